import Archive
import ConstruirSystem
import Foundation
import JobModel
import Logging
import VMHost
import XZ

/// Runs one claimed job from boot to a result: boot → wait → collect. Everything it produces
/// stays inside the job's running directory; publishing to done/ is the caller's step.
public struct JobExecutor: Sendable {
    public enum Outcome: Sendable {
        case finished(JobResult)
        /// The runner is stopping: the VM was destroyed and the job should go back to the queue.
        case interrupted
    }

    public struct Execution: Sendable {
        public let outcome: Outcome
        /// The VM, when its guest powered off and QEMU may still be exiting: the caller lets it
        /// end (`letEnd`) off the next job's path, before it returns.
        public let exiting: (any JobMachine)?
    }

    /// Job VMs are named `construir-ID`, ID being the job's running directory.
    public static let domainPrefix = "construir-"
    public static func domainName(jobID: String) -> String { domainPrefix + jobID }

    public let images: ImageStore
    public let hypervisor: any VirtualMachineManager
    public let options: RunnerOptions
    public let logger: Logger
    /// Booted VMs that take jobs (`run --warm`); nil: every job boots cold.
    public let warm: WarmPool?
    private let digests: ImageDigestCache

    /// - Parameter digests: the image digests, when shared with another user of the images (the
    ///   pull runner's claims); by default the executor's own.
    public init(images: ImageStore, hypervisor: any VirtualMachineManager, options: RunnerOptions, logger: Logger,
                digests: ImageDigestCache? = nil, warm: WarmPool? = nil) {
        self.images = images
        self.hypervisor = hypervisor
        self.options = options
        self.logger = logger
        self.digests = digests ?? warm?.digests ?? ImageDigestCache(persistingTo: options.imageDigestStore)
        self.warm = warm
    }

    /// Runs the job; a runner that began stopping (its task cancelled) boots nothing more.
    /// While `pauses` says so, the job's VM is paused, and that time does not count towards
    /// its timeout.
    public func execute(_ job: ClaimedJob, pauses: PauseSwitch? = nil) async -> Execution {
        var exiting: (any JobMachine)?
        let outcome = await run(job, pauses: pauses, exiting: &exiting)
        return Execution(outcome: outcome, exiting: exiting)
    }

    private func run(_ job: ClaimedJob, pauses: PauseSwitch?, exiting: inout (any JobMachine)?) async -> Outcome {
        var logger = self.logger
        logger[metadataKey: "job"] = "\(job.name.fileName)"
        let started = Date()
        let jobSize = (try? FileSystem.size(of: job.jobPath)) ?? 0
        var result = JobResult(
            job: job.name.fileName, name: job.name.name, status: .error, exitCode: nil, error: nil,
            image: JobResult.Image(index: job.name.image(default: options.defaultImage), sha256: nil),
            timestamps: .init(queued: job.queuedAt, started: started, finished: started),
            durations: .init(wait: started.timeIntervalSince(job.queuedAt), total: 0),
            sizes: .init(job: jobSize),
            limits: nil,
            runner: "construir \(construirVersion)")
        result.attempt = job.attempt

        func finish(_ status: JobResult.Status, error: String? = nil) -> Outcome {
            result.status = status
            if let error { result.error = error }
            result.timestamps.finished = Date()
            result.durations.total = result.timestamps.finished.timeIntervalSince(started)
            var metadata: Logger.Metadata = ["status": "\(status.rawValue)"]
            if let error = result.error { metadata["error"] = "\(error)" }
            logger.info("job finished", metadata: metadata)
            return .finished(result)
        }

        // A job killed (`construir kill`) before it booted never boots.
        if KillRequest.exists(in: job.directory) { return finish(.killed, error: KillRequest.killedBeforeBoot) }
        // Refuse what is not a job, or asks for more than this runner gives, before booting.
        if let problem = job.name.problem { return finish(.rejected, error: problem) }
        let inspectStart = ContinuousClock.now
        let limits: EffectiveLimits
        let manifest: JobManifest?
        let source: PackagedSource?
        do {
            // Blocking work (decompressing the whole job, hashing, starting a VM, extracting) runs
            // on threads of its own: the cooperative pool has one thread per core, and the other
            // slots' timers and the status server need them meanwhile.
            let options = self.options
            (manifest, limits, source) = try await OwnThread.run("construir-inspect") {
                let inspection = try JobImageInspector.inspect(job.jobPath, limits: options.jobLimits)
                let manifest = try inspection.manifest.map { bytes throws(ConstruirError) in try JobManifest.parse(bytes) }
                return (manifest, try EffectiveLimits.resolve(options: options, manifest: manifest, jobSize: jobSize), inspection.source)
            }
        } catch {
            return finish(.rejected, error: "\(error)")
        }
        result.source = source
        if Task.isCancelled { return .interrupted }
        result.durations.inspect = (ContinuousClock.now - inspectStart).seconds
        result.limits = .init(timeout: limits.timeout.seconds, memoryMiB: limits.memoryMiB, cpus: limits.cpus,
                              acceleration: options.acceleration.rawValue, outputSize: limits.outputSize,
                              consoleLog: options.maxConsoleBytes)
        let image: BuildImage
        let digest: String
        do {
            image = try images.image(job.name.image(default: options.defaultImage))
            let digests = self.digests
            digest = try await OwnThread.run("construir-digest") { try digests.digest(of: image) }
            result.image?.sha256 = digest
        } catch {
            if let required = job.requiredImageDigest {
                let index = job.name.image(default: options.defaultImage)
                return finish(.error, error: "the hub's build image \(index) is \(required), this runner has no image \(index) that verifies "
                              + "(construir image pull \(index) fetches it): \(error)")
            }
            return finish(.error, error: "\(error)")
        }
        if Task.isCancelled { return .interrupted }
        if let required = job.requiredImageDigest, required != digest {
            return finish(.error, error: "build image \(image.index) differs from the hub's: the hub's is \(required), this runner's is \(digest) "
                          + "(construir image pull \(image.index) fetches the hub's)")
        }
        if let pinned = manifest?.imageDigest, let refusal = Self.imageMismatch(pinned: pinned, actual: digest, index: image.index) {
            return finish(.rejected, error: refusal)
        }

        // A job with stages: the guest runs the script `StageDriver` writes for them, which an
        // agent of protocol 2 or later knows to look for.
        let stages = manifest?.stages ?? []
        var stageNonce: String?
        if !stages.isEmpty {
            guard image.manifest.protocol >= StageDriver.protocolVersion else {
                return finish(.error, error: "the job lists stages: in \(JobImageInspector.manifestPath), and build image \(image.index)'s guest agent "
                              + "(protocol \(image.manifest.protocol)) does not run stages: rebuild it (construir image build \(image.index))")
            }
            var nonce = StageDriver.makeNonce()
            while !StageDriver.isSafe(stages: stages, nonce: nonce) { nonce = StageDriver.makeNonce() }
            stageNonce = nonce
        }

        // The disks' paths are the job directory's, whether a warm VM's files are moved there
        // at its hand-over or fresh ones are made for a cold boot.
        let outputDisk = "\(job.directory)/output.img"
        let statusDisk = "\(job.directory)/status.img"
        let configDisk = "\(job.directory)/config.img"
        let stagesDisk = "\(job.directory)/stages.img"
        let consoleLog = "\(job.directory)/\(JobFiles.consoleLog)"
        let environment = manifest?.environment ?? []
        let environmentScript = environment.isEmpty ? nil : Self.configDiskBytes(manifest?.environmentScript ?? "")
        let stageScript = stageNonce.map { Self.configDiskBytes(StageDriver.script(stages: stages, nonce: $0)) }
        var warmDirectory: String?
        defer {
            for file in [outputDisk, statusDisk, configDisk, stagesDisk, "\(job.directory)/\(StageMarkers.fileName)",
                         Self.domainRecord(in: job.directory)] {
                try? FileManager.default.removeItem(atPath: file)
            }
            if let warmDirectory { WarmPool.remove(warmDirectory) }
        }
        if let stageNonce {
            do {
                try JSONEncoder().encode(StageMarkers(nonce: stageNonce, stages: stages))
                    .write(to: URL(fileURLWithPath: "\(job.directory)/\(StageMarkers.fileName)"))
            } catch {
                return finish(.error, error: "cannot create the job's disks: \(error)")
            }
        }
        result.sizes.outputDisk = limits.outputSize

        // A job killed or a runner that began stopping meanwhile boots nothing.
        if KillRequest.exists(in: job.directory) { return finish(.killed, error: KillRequest.killedBeforeBoot) }
        if Task.isCancelled { return .interrupted }

        // A warm VM of this image, digest and at least this memory and CPUs takes the job;
        // else (none, a job or script too large to copy, a failed hand-over) it boots cold.
        let createStart = ContinuousClock.now
        var handedOver: WarmMachine?
        if let warm, jobSize <= warm.policy.maxCopyBytes,
           (environmentScript?.count ?? 0) <= WarmMachine.scriptDiskSize, (stageScript?.count ?? 0) <= WarmMachine.scriptDiskSize,
           let vm = warm.take(image: image.index, digest: digest, memoryMiB: limits.memoryMiB, cpus: limits.cpus) {
            warmDirectory = vm.directory
            do {
                try await OwnThread.run("construir-handover") {
                    try vm.handOver(job, outputSize: limits.outputSize, environment: environmentScript, stages: stageScript)
                }
                handedOver = vm
                let handover = (ContinuousClock.now - createStart).seconds
                result.warm = .init(domain: vm.name, age: (createStart - vm.booted).seconds, handover: handover)
                result.limits?.memoryMiB = vm.memoryMiB
                result.limits?.cpus = vm.cpus
                logger.info("job handed over to a warm VM", metadata: ["domain": "\(vm.name)", "image": "\(image.index)"])
            } catch {
                logger.warning("hand-over to warm VM \(vm.name) failed, booting cold: \(error)")
                await vm.machine.destroyOffPool()
                for file in [outputDisk, statusDisk, consoleLog, Self.domainRecord(in: job.directory)] {
                    try? FileManager.default.removeItem(atPath: file)
                }
            }
        }
        let machine: any JobMachine
        if let handedOver {
            machine = handedOver.machine
        } else {
            warm?.makeRoom()
            do {
                try FileSystem.createSparseFile(outputDisk, size: limits.outputSize)
                try FileSystem.createSparseFile(statusDisk, size: Int64(GuestStatus.diskSize))
                if let environmentScript { try Data(environmentScript).write(to: URL(fileURLWithPath: configDisk)) }
                if let stageScript { try Data(stageScript).write(to: URL(fileURLWithPath: stagesDisk)) }
            } catch {
                return finish(.error, error: "cannot create the job's disks: \(error)")
            }
            let configuration = Self.domainConfiguration(
                name: Self.domainName(jobID: job.id), image: image, memoryMiB: limits.memoryMiB, cpus: limits.cpus,
                commandLine: image.manifest.cmdline, job: job.jobPath, output: outputDisk, status: statusDisk,
                config: environmentScript.map { _ in configDisk }, stages: stageScript.map { _ in stagesDisk },
                consoleLog: consoleLog, options: options, relabel: !hypervisor.isEmbedded)
            do {
                let hypervisor = self.hypervisor
                machine = try await OwnThread.run("construir-start") { try hypervisor.start(configuration) as any JobMachine }
            } catch {
                return finish(.error, error: "\(error)")
            }
            logger.info("VM started", metadata: ["image": "\(image.index)", "accel": "\(options.acceleration.rawValue)"])
        }
        let created = ContinuousClock.now
        result.durations.vmStart = (created - createStart).seconds
        CrashPoint.reach("vm-started")
        let consoleCap = options.maxConsoleBytes
        let pauseClock = PauseClock()
        let stop = await withTaskGroup(of: StopReason?.self) { group in
            if let pauses {
                group.addTask { [logger] in
                    await Self.follow(pauses, machine: machine, clock: pauseClock, logger: logger)
                    return nil
                }
            }
            group.addTask {
                await machine.waitForStop(timeout: limits.timeout, pauses: pauseClock, watchdog: {
                    if KillRequest.exists(in: job.directory) { return .killed }
                    guard let size = try? FileSystem.size(of: consoleLog), size > consoleCap else { return nil }
                    return .limitExceeded("the console log went over \(consoleCap) bytes")
                })
            }
            var stop = StopReason.stopped(detail: "cancelled")
            for await case let reason? in group {
                stop = reason
                break
            }
            group.cancelAll()
            return stop
        }
        pauseClock.resume()
        let paused = pauseClock.paused()
        if paused > .zero { result.durations.paused = paused.seconds }
        if stop != .guestPoweredOff {
            let destroyStart = ContinuousClock.now
            await machine.destroyOffPool()
            result.durations.destroy = (ContinuousClock.now - destroyStart).seconds
        } else if hypervisor.isEmbedded {
            exiting = machine
        } else {
            // A daemon gives the job's files back (relabels them) once the domain is gone.
            await machine.letEnd()
        }
        CrashPoint.reach("vm-stopped")
        let stopped = ContinuousClock.now
        result.durations.vm = (stopped - created).seconds
        // A killed job is finished, not returned to the queue, even when the runner is stopping.
        if Task.isCancelled, stop != .guestPoweredOff, stop != .killed {
            logger.notice("runner stopping: job interrupted")
            return .interrupted
        }
        logger.info("VM stopped", metadata: ["reason": "\(stop)"])
        Self.capConsoleLog(consoleLog, at: consoleCap)
        result.sizes.consoleLog = try? FileSystem.size(of: consoleLog)

        // Collect: the guest's status record, then its output.
        var guest: GuestStatus?
        var problems: [String] = []
        do {
            guest = try GuestStatus.parse(Self.readPrefix(of: statusDisk, count: GuestStatus.diskSize))
        } catch {
            problems.append("\(error)")
        }
        if let guest {
            result.exitCode = guest.exitCode
            result.durations.boot = guest.bootUptimeMs.map { Double($0) / 1000 }
            if let start = guest.startUptimeMs, let end = guest.endUptimeMs, end >= start {
                result.durations.run = Double(end - start) / 1000
            }
            if !environment.isEmpty, guest.state == .finished, !guest.configApplied {
                problems.append("the image's guest agent does not support job environment variables (rebuild the image)")
            }
        }
        let collectStart = ContinuousClock.now
        do {
            let extractionLimits = options.extractionLimits
            let summary = try await OwnThread.run("construir-extract") {
                try OutputExtractor.extract(disk: outputDisk, to: "\(job.directory)/\(JobFiles.output)",
                                            keepingArchiveAt: "\(job.directory)/\(JobFiles.outputArchive)", limits: extractionLimits)
            }
            result.sizes.outputArchive = summary.compressedLength
            result.sizes.outputFiles = summary.bytesWritten
            result.sizes.outputEntries = summary.entries
        } catch {
            problems.append("output: \(error)")
            result.sizes.outputArchive = try? FileSystem.size(of: "\(job.directory)/\(JobFiles.outputArchive)")
        }
        if let stageNonce {
            // What each stage did, from its markers in the console log (capped above, so bounded).
            let console = (try? await OwnThread.run("construir-stages") { try Self.readPrefix(of: consoleLog, count: Int(consoleCap) + 4096) }) ?? []
            result.stages = StageDriver.results(console: console, stages: stages, nonce: stageNonce)
        }
        result.durations.collect = (ContinuousClock.now - collectStart).seconds

        let problem = problems.isEmpty ? nil : problems.joined(separator: "; ")
        switch (stop, guest?.state) {
        case (.timedOut, _):
            return finish(.timedOut, error: "timed out after \(Self.format(limits.timeout))" + (problem.map { "; \($0)" } ?? ""))
        case (.limitExceeded(let reason), _):
            return finish(.error, error: "\(reason): the VM was destroyed" + (problem.map { "; \($0)" } ?? ""))
        case (.killed, _):
            // What the guest wrote so far is kept; an empty or partial output is only noted.
            return finish(.killed, error: KillRequest.killedWhileRunning + (problem.map { "; \($0)" } ?? ""))
        case (_, .finished?):
            if let problem { return finish(.error, error: problem) }
            guard guest?.exitCode == 0 else { return finish(.failed) }
            let allowedFailures = (result.stages ?? []).filter { $0.status == .failed && $0.allowFailure }.map(\.name)
            if !allowedFailures.isEmpty {
                return finish(.passedWithFailures, error: "stages allowed to fail failed: \(allowedFailures.joined(separator: ", "))")
            }
            return finish(.passed)
        case (_, .error?):
            return finish(.error, error: "guest agent: \(guest?.error ?? "unspecified error")")
        case (_, .running?):
            return finish(.error, error: "the VM \(stop) while the job was running" + (problem.map { "; \($0)" } ?? ""))
        case (_, .waiting?):
            return finish(.error, error: "the warm VM \(stop) before it took the job" + (problem.map { "; \($0)" } ?? ""))
        case (_, nil):
            return finish(.error, error: "the VM \(stop) without reporting a result" + (problem.map { "; \($0)" } ?? ""))
        }
    }

    /// Pauses and resumes `machine` as `pauses` says until cancelled, and keeps `clock` (the
    /// paused time the timeout leaves out). A VM that cannot be paused (it is powering off) runs on.
    static func follow(_ pauses: PauseSwitch, machine: any JobMachine, clock: PauseClock, logger: Logger) async {
        for await suspend in pauses.suspensions() where suspend != clock.isPaused {
            // The clock stops before the VM does and starts after it runs again: a loaded host,
            // when pauses happen, may take a while to get back to this task, and that delay is
            // never charged to the job.
            if suspend { clock.pause() }
            do {
                // Not at idle priority: the owner wants the CPUs now.
                try await OwnThread.run(suspend ? "construir-pause" : "construir-resume", urgent: true) {
                    try suspend ? machine.suspend() : machine.resume()
                }
                if !suspend { clock.resume() }
                logger.info(suspend ? "VM paused" : "VM resumed", metadata: ["paused": "\(Self.format(clock.paused()))"])
            } catch {
                // A VM that did not pause runs on, and one that did not resume is charged from
                // now on, so its timeout still ends it.
                clock.resume()
                logger.warning("cannot \(suspend ? "pause" : "resume") the VM: \(error)")
            }
        }
    }

    /// Why a job pinned to the image digest `pinned` must not run on image `index` whose digest
    /// is `actual`, or nil when they agree. Both digests are named so that the job's author can
    /// compare them with `construir image list --packages` on each machine.
    static func imageMismatch(pinned: String, actual: String, index: Int) -> String? {
        guard pinned != actual else { return nil }
        return "build image \(index) has another digest than the job was made for: the job expects \(pinned) "
            + "(image_digest in \(JobImageInspector.manifestPath)), this runner's image \(index) is \(actual) "
            + "(`construir image list --packages` shows what an image holds)"
    }

    /// A job VM's domain, cold or warm: the job's disks, found by serial (config and stages only
    /// when given), then the image's root disk. The job's files are handed to QEMU's user by
    /// libvirt when it runs as another user (`relabel`, for qemu:///system); build image files
    /// are never relabelled, so they stay identical.
    static func domainConfiguration(name: String, image: BuildImage, memoryMiB: Int, cpus: Int, commandLine: String,
                                    job: String, output: String, status: String, config: String?, stages: String?,
                                    consoleLog: String, options: RunnerOptions, relabel: Bool) -> DomainConfiguration {
        var disks: [DomainConfiguration.Disk] = [
            .init(path: job, serial: "construir-job", readOnly: true, relabel: relabel),
            .init(path: output, serial: "construir-output", readOnly: false, relabel: relabel),
            .init(path: status, serial: "construir-status", readOnly: false, relabel: relabel),
        ]
        if let config { disks.append(.init(path: config, serial: "construir-config", readOnly: true, relabel: relabel)) }
        if let stages { disks.append(.init(path: stages, serial: StageDriver.diskSerial, readOnly: true, relabel: relabel)) }
        if let rootfs = image.rootfsPath {
            disks.append(.init(path: rootfs, serial: "construir-root", readOnly: true, relabel: false))
        }
        var configuration = DomainConfiguration(
            name: name, acceleration: options.acceleration, memoryMiB: memoryMiB, cpus: cpus,
            kernel: image.kernelPath, initrd: image.initrdPath, commandLine: commandLine, disks: disks, consoleLog: consoleLog)
        configuration.relabelConsole = relabel
        configuration.idlePriority = options.idlePriority
        return configuration
    }

    /// A config or stages disk's bytes: the script, NUL-padded to whole 4 KiB blocks.
    static func configDiskBytes(_ script: String) -> [UInt8] {
        var bytes = Array(script.utf8)
        bytes += [UInt8](repeating: 0, count: Int(Units.roundUp(Int64(bytes.count) + 1, to: 4096)) - bytes.count)
        return bytes
    }

    /// Where a job's directory names the domain it runs in when that is not `domainName(jobID:)`
    /// (a warm VM): a runner taking the job over after a crash kills that one.
    public static func domainRecord(in directory: String) -> String { "\(directory)/domain" }

    /// Cuts a console log that went over `cap` so that it holds `cap` bytes at most, its last
    /// line saying so. At most: a hub takes a console of up to the same `--max-console`, and
    /// one a few bytes over would fail the job's hold there.
    static func capConsoleLog(_ path: String, at cap: Int64) {
        guard let size = try? FileSystem.size(of: path), size > cap else { return }
        let note = Data("\n[construir: console log cut at \(cap) bytes; the guest wrote at least \(size)]\n".utf8)
        guard truncate(path, off_t(max(0, cap - Int64(note.count)))) == 0, let handle = FileHandle(forWritingAtPath: path) else { return }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: note.prefix(Int(cap)))
    }

    static func readPrefix(of path: String, count: Int) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConstruirError(.notFound, "cannot open \(path)")
        }
        defer { try? handle.close() }
        return [UInt8](try handle.read(upToCount: count) ?? Data())
    }

    static func format(_ duration: Duration) -> String {
        let seconds = duration.seconds
        return seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.1fs", seconds)
    }
}
