import Archive
import ConstruirSystem
import Foundation
import JobModel
import Logging
import VMHost
import XZ

/// Runs one claimed job from inspection to a result, in the steps docs/architecture.md names:
/// inspect → prepare disks → boot (warm or cold) → wait → collect → classify. Everything it
/// produces stays inside the job's running directory; publishing to done/ is the caller's step.
///
/// Blocking work (decompressing the whole job, hashing, starting a VM, extracting) runs on
/// threads of its own: the cooperative pool has one thread per core, and the other slots'
/// timers and the status server need them meanwhile.
package struct JobExecutor: Sendable {
    package enum Outcome: Sendable {
        case finished(JobResult)
        /// The runner is stopping: the VM was destroyed and the job should go back to the queue.
        case interrupted
    }

    package struct Execution: Sendable {
        package let outcome: Outcome
        /// The VM, when its guest powered off and QEMU may still be exiting: the caller lets it
        /// end (`letEnd`) off the next job's path, before it returns.
        package let exiting: (any JobMachine)?
    }

    /// A booted job VM, and the warm VM's directory it came from (removed once the job ends).
    struct Booted {
        let machine: any JobMachine
        let warmDirectory: String?
    }

    /// What the collect step found: the guest's status record and what went wrong (each
    /// stage's result goes into the record).
    struct Collected {
        var guest: GuestStatus?
        var problems: [String] = []
    }

    package let images: ImageStore
    package let hypervisor: any VirtualMachineManager
    package let options: RunnerOptions
    package let logger: Logger
    /// Booted VMs that take jobs (`run --warm`); nil: every job boots cold.
    package let warm: WarmPool?
    private let digests: ImageDigestCache

    /// - Parameter digests: the image digests, when shared with another user of the images (the
    ///   pull runner's claims); by default the executor's own.
    package init(images: ImageStore, hypervisor: any VirtualMachineManager, options: RunnerOptions, logger: Logger,
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
    package func execute(_ job: ClaimedJob, pauses: PauseSwitch? = nil) async -> Execution {
        var logger = self.logger
        logger[metadataKey: "job"] = "\(job.name.fileName)"
        var record = JobRecord(job: job, defaultImage: options.defaultImage, jobSize: (try? FileSystem.size(of: job.jobPath)) ?? 0)
        var exiting: (any JobMachine)?
        let ending: JobEnding
        do {
            ending = try await run(job, pauses: pauses, record: &record, exiting: &exiting, logger: logger)
        } catch {
            switch error {
            case .interrupted: return Execution(outcome: .interrupted, exiting: exiting)
            case .ended(let status, let message): ending = JobEnding(status: status, error: message)
            }
        }
        let result = record.finish(ending.status, error: ending.error)
        var metadata: Logger.Metadata = ["status": "\(result.status.rawValue)"]
        if let error = result.error { metadata["error"] = "\(error)" }
        logger.info("job finished", metadata: metadata)
        return Execution(outcome: .finished(result), exiting: exiting)
    }

    private func run(_ job: ClaimedJob, pauses: PauseSwitch?, record: inout JobRecord, exiting: inout (any JobMachine)?,
                     logger: Logger) async throws(JobStop) -> JobEnding {
        let plan = try await inspect(job, record: &record)
        let disks = JobDisks(directory: job.directory)
        defer { disks.remove() }
        record.result.sizes.outputDisk = plan.limits.outputSize
        try prepare(job, plan, disks)
        let booted = try await boot(job, plan, disks, record: &record, logger: logger)
        defer { if let directory = booted.warmDirectory { WarmPool.remove(directory) } }
        let created = ContinuousClock.now
        CrashPoint.reach("vm-started")
        let (stop, redacted) = await ConsoleRedaction.around(raw: disks.rawConsole, log: disks.consoleLog, secrets: plan.secrets) {
            let stop = await wait(for: booted.machine, job, plan, disks, pauses: pauses, record: &record, logger: logger)
            exiting = await settle(booted.machine, stop: stop, record: &record)
            return stop
        }
        CrashPoint.reach("vm-stopped")
        record.result.durations.vm = (ContinuousClock.now - created).seconds
        // A killed job is finished, not returned to the queue, even when the runner is stopping.
        if Task.isCancelled, stop != .guestPoweredOff, stop != .killed {
            logger.notice("runner stopping: job interrupted")
            throw .interrupted
        }
        logger.info("VM stopped", metadata: ["reason": "\(stop)"])
        if let names = plan.manifest?.secrets, !names.isEmpty { record.result.secrets = .init(names: names, redacted: redacted) }
        let collected = await collect(job, plan, disks, record: &record)
        return JobEnding.classify(stop: stop, guest: collected.guest, problems: collected.problems, stages: record.result.stages,
                                  timeout: plan.limits.timeout)
    }

    /// Inspect: refuses what is not a job, or asks for more than this runner gives, or was made
    /// for another image, before anything boots.
    func inspect(_ job: ClaimedJob, record: inout JobRecord) async throws(JobStop) -> JobPlan {
        // A job killed (`construir kill`) before it booted never boots.
        if KillRequest.exists(in: job.directory) { throw .ended(.killed, KillRequest.killedBeforeBoot) }
        if let problem = job.name.problem { throw .ended(.rejected, problem) }
        let inspectStart = ContinuousClock.now
        let options = self.options
        let jobSize = record.result.sizes.job
        let manifest: JobManifest?
        let limits: EffectiveLimits
        do {
            let source: PackagedSource?
            (manifest, limits, source) = try await OwnThread.run("construir-inspect") {
                let inspection = try JobImageInspector.inspect(job.jobPath, limits: options.jobLimits)
                let manifest = try inspection.manifest.map { bytes throws(ConstruirError) in try JobManifest.parse(bytes) }
                return (manifest, try EffectiveLimits.resolve(options: options, manifest: manifest, jobSize: jobSize), inspection.source)
            }
            record.result.source = source
        } catch {
            throw .ended(.rejected, "\(error)")
        }
        if Task.isCancelled { throw .interrupted }
        record.result.durations.inspect = (ContinuousClock.now - inspectStart).seconds
        record.result.limits = .init(timeout: limits.timeout.seconds, memoryMiB: limits.memoryMiB, cpus: limits.cpus,
                                     acceleration: options.acceleration.rawValue, outputSize: limits.outputSize,
                                     consoleLog: options.maxConsoleBytes)
        let (image, digest) = try await verifiedImage(for: job, manifest: manifest, record: &record)
        if let problem = JobPlan.secretsProblem(manifest, options.secrets, image: image) { throw .ended(.error, problem) }
        return JobPlan(manifest: manifest, limits: limits, image: image, digest: digest, stageNonce: try stageNonce(manifest, image: image),
                       secrets: options.secrets)
    }

    /// The job's build image and its digest (recorded at once, so a refusal names it), checked
    /// against the digest the hub or the job's manifest asks for.
    private func verifiedImage(for job: ClaimedJob, manifest: JobManifest?, record: inout JobRecord) async throws(JobStop) -> (BuildImage, String) {
        let index = job.name.image(default: options.defaultImage)
        let image: BuildImage
        let digest: String
        do {
            image = try images.image(index)
            let digests = self.digests
            digest = try await OwnThread.run("construir-digest") { try digests.digest(of: image) }
        } catch {
            if let required = job.requiredImageDigest {
                throw .ended(.error, "the hub's build image \(index) is \(required), this runner has no image \(index) that verifies "
                             + "(construir image pull \(index) fetches it): \(error)")
            }
            throw .ended(.error, "\(error)")
        }
        record.result.image?.sha256 = digest
        if Task.isCancelled { throw .interrupted }
        if let required = job.requiredImageDigest, required != digest {
            throw .ended(.error, "build image \(image.index) differs from the hub's: the hub's is \(required), this runner's is \(digest) "
                         + "(construir image pull \(image.index) fetches the hub's)")
        }
        if let pinned = manifest?.imageDigest, let refusal = JobPlan.imageMismatch(pinned: pinned, actual: digest, index: image.index) {
            throw .ended(.rejected, refusal)
        }
        return (image, digest)
    }

    /// A job with stages: the guest runs the script `StageDriver` writes for them, with markers
    /// under a nonce no stage's text contains; an agent of protocol 2 or later knows to look.
    private func stageNonce(_ manifest: JobManifest?, image: BuildImage) throws(JobStop) -> String? {
        let stages = manifest?.stages ?? []
        guard !stages.isEmpty else { return nil }
        guard image.manifest.protocol >= StageDriver.protocolVersion else {
            throw .ended(.error, "the job lists stages: in \(JobImageInspector.manifestPath), and build image \(image.index)'s guest agent "
                         + "(protocol \(image.manifest.protocol)) does not run stages: rebuild it (construir image build \(image.index))")
        }
        var nonce = StageDriver.makeNonce()
        while !StageDriver.isSafe(stages: stages, nonce: nonce) { nonce = StageDriver.makeNonce() }
        return nonce
    }

    /// Prepare: the stages' markers for reading the console later; then a job killed, or a
    /// runner that began stopping, meanwhile boots nothing.
    func prepare(_ job: ClaimedJob, _ plan: JobPlan, _ disks: JobDisks) throws(JobStop) {
        if let stageNonce = plan.stageNonce {
            do {
                try JSONEncoder().encode(StageMarkers(nonce: stageNonce, stages: plan.stages)).write(to: URL(fileURLWithPath: disks.stageMarkers))
            } catch {
                throw .ended(.error, "cannot create the job's disks: \(error)")
            }
        }
        if KillRequest.exists(in: job.directory) { throw .ended(.killed, KillRequest.killedBeforeBoot) }
        if Task.isCancelled { throw .interrupted }
    }

    /// Boot: a warm VM of this image, digest and at least this memory and CPUs takes the job;
    /// else (none, a job or script too large to copy, a failed hand-over) it boots cold.
    func boot(_ job: ClaimedJob, _ plan: JobPlan, _ disks: JobDisks, record: inout JobRecord, logger: Logger) async throws(JobStop) -> Booted {
        let createStart = ContinuousClock.now
        let booted: Booted
        if let warm = try await bootWarm(job, plan, disks, record: &record, logger: logger) {
            booted = warm
        } else {
            booted = Booted(machine: try await bootCold(job, plan, disks), warmDirectory: nil)
            logger.info("VM started", metadata: ["image": "\(plan.image.index)", "accel": "\(options.acceleration.rawValue)"])
        }
        record.result.durations.vmStart = (ContinuousClock.now - createStart).seconds
        return booted
    }

    private func bootWarm(_ job: ClaimedJob, _ plan: JobPlan, _ disks: JobDisks, record: inout JobRecord,
                          logger: Logger) async throws(JobStop) -> Booted? {
        let environment = plan.environmentScript
        let stageScript = plan.stageScript
        let limits = plan.limits
        // A warm VM booted with no secrets disk, its console going straight to the console log.
        guard let warm, plan.secrets.isEmpty, record.result.sizes.job <= warm.policy.maxCopyBytes,
              (environment?.count ?? 0) <= WarmMachine.scriptDiskSize, (stageScript?.count ?? 0) <= WarmMachine.scriptDiskSize,
              let vm = warm.take(image: plan.image.index, digest: plan.digest, memoryMiB: limits.memoryMiB, cpus: limits.cpus) else {
            return nil
        }
        let start = ContinuousClock.now
        do {
            try await vm.handOver(job, outputSize: limits.outputSize, environment: environment, stages: stageScript)
        } catch {
            logger.warning("hand-over to warm VM \(vm.name) failed, booting cold: \(error)")
            await vm.machine.destroy()
            disks.removeHandOverLeftovers()
            WarmPool.remove(vm.directory)
            return nil
        }
        record.result.warm = .init(domain: vm.name, age: (start - vm.booted).seconds, handover: (ContinuousClock.now - start).seconds)
        record.result.limits?.memoryMiB = vm.memoryMiB
        record.result.limits?.cpus = vm.cpus
        logger.info("job handed over to a warm VM", metadata: ["domain": "\(vm.name)", "image": "\(plan.image.index)"])
        return Booted(machine: vm.machine, warmDirectory: vm.directory)
    }

    private func bootCold(_ job: ClaimedJob, _ plan: JobPlan, _ disks: JobDisks) async throws(JobStop) -> any JobMachine {
        warm?.makeRoom()
        let environment = plan.environmentScript
        let stageScript = plan.stageScript
        do {
            try disks.create(outputSize: plan.limits.outputSize, environment: environment, stageScript: stageScript,
                             secrets: plan.secretsScript)
        } catch {
            throw .ended(.error, "cannot create the job's disks: \(error)")
        }
        let configuration = JobDomain.configuration(
            name: JobDomain.name(jobID: job.id), image: plan.image, memoryMiB: plan.limits.memoryMiB, cpus: plan.limits.cpus,
            commandLine: plan.image.manifest.cmdline, job: job.jobPath, output: disks.output, status: disks.status,
            config: environment.map { _ in disks.config }, stages: stageScript.map { _ in disks.stages },
            secrets: plan.secretsScript.map { _ in disks.secrets },
            consoleLog: disks.consoleWritten(redacted: !plan.secrets.isEmpty), options: options, relabel: !hypervisor.isEmbedded)
        do {
            return try await hypervisor.start(configuration)
        } catch {
            throw .ended(.error, "\(error)")
        }
    }

    /// Wait: for the VM to stop or a reason to stop it (timeout, console over its cap, a kill
    /// request), pausing and resuming it meanwhile as `pauses` says.
    func wait(for machine: any JobMachine, _ job: ClaimedJob, _ plan: JobPlan, _ disks: JobDisks, pauses: PauseSwitch?,
              record: inout JobRecord, logger: Logger) async -> StopReason {
        let consoleCap = options.maxConsoleBytes
        // The file QEMU writes: a guest printing too much is stopped whether or not it is redacted.
        let consoleLog = disks.consoleWritten(redacted: !plan.secrets.isEmpty)
        let timeout = plan.limits.timeout
        let pauseClock = PauseClock()
        let stop = await withTaskGroup(of: StopReason?.self) { group in
            if let pauses {
                group.addTask {
                    await pauses.apply(to: machine, clock: pauseClock, logger: logger)
                    return nil
                }
            }
            group.addTask {
                await machine.waitForStop(timeout: timeout, pauses: pauseClock, watchdog: {
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
        if paused > .zero { record.result.durations.paused = paused.seconds }
        return stop
    }

    /// Destroys a VM that did not power off, so that its disks are final. One that did is
    /// returned to be let end off the job's path (embedded driver), or let end now (a daemon
    /// gives the job's files back once the domain is gone).
    private func settle(_ machine: any JobMachine, stop: StopReason, record: inout JobRecord) async -> (any JobMachine)? {
        if stop != .guestPoweredOff {
            let destroyStart = ContinuousClock.now
            await machine.destroy()
            record.result.durations.destroy = (ContinuousClock.now - destroyStart).seconds
            return nil
        }
        if hypervisor.isEmbedded { return machine }
        await machine.letEnd()
        return nil
    }

    /// Collect: the console log cut to its cap, the guest's status record, its output, and for
    /// a stages job what each stage did.
    func collect(_ job: ClaimedJob, _ plan: JobPlan, _ disks: JobDisks, record: inout JobRecord) async -> Collected {
        let consoleCap = options.maxConsoleBytes
        let consoleLog = disks.consoleLog
        let statusDisk = disks.status
        var collected = Collected()
        let read = try? await OwnThread.run("construir-status") { () -> (Int64?, Result<GuestStatus?, any Error>) in
            ConsoleLog.cap(consoleLog, at: consoleCap)
            return (try? FileSystem.size(of: consoleLog),
                    Result { try GuestStatus.parse(FileSystem.readPrefix(of: statusDisk, count: GuestStatus.diskSize)) })
        }
        record.result.sizes.consoleLog = read?.0
        switch read?.1 {
        case .success(let guest)?: collected.guest = guest
        case .failure(let error)?: collected.problems.append("\(error)")
        case nil: collected.problems.append("cannot read the status disk")
        }
        if let guest = collected.guest {
            record.result.exitCode = guest.exitCode
            record.result.durations.boot = guest.bootUptimeMs.map { Double($0) / 1000 }
            if let start = guest.startUptimeMs, let end = guest.endUptimeMs, end >= start {
                record.result.durations.run = Double(end - start) / 1000
            }
            if !plan.environment.isEmpty, guest.state == .finished, !guest.configApplied {
                collected.problems.append("the image's guest agent does not support job environment variables (rebuild the image)")
            }
            if !plan.secrets.isEmpty, guest.state == .finished, !guest.secretsApplied {
                collected.problems.append("the guest agent did not hand the job its secrets (rebuild the image)")
            }
        }
        let collectStart = ContinuousClock.now
        do {
            let extractionLimits = options.extractionLimits
            let summary = try await OwnThread.run("construir-extract") {
                try OutputExtractor.extract(disk: disks.output, to: "\(job.directory)/\(JobFiles.output)",
                                            keepingArchiveAt: "\(job.directory)/\(JobFiles.outputArchive)", limits: extractionLimits)
            }
            record.result.sizes.outputArchive = summary.compressedLength
            record.result.sizes.outputFiles = summary.bytesWritten
            record.result.sizes.outputEntries = summary.entries
            if !plan.secrets.isEmpty {
                let secrets = plan.secrets
                let maxBytes = extractionLimits.effectiveMaxTarStreamBytes
                let archive = "\(job.directory)/\(JobFiles.outputArchive)"
                let redacted = try await OwnThread.run("construir-redact") {
                    try OutputRedaction.redact(output: "\(job.directory)/\(JobFiles.output)", archive: archive, secrets: secrets,
                                               maxDecompressedBytes: maxBytes)
                }
                record.result.sizes.outputArchive = try? FileSystem.size(of: archive)
                record.result.secrets?.redacted += redacted
            }
        } catch {
            collected.problems.append("output: \(error)")
            record.result.sizes.outputArchive = try? FileSystem.size(of: "\(job.directory)/\(JobFiles.outputArchive)")
        }
        if let stageNonce = plan.stageNonce {
            // What each stage did, from its markers in the console log (capped above, so bounded).
            let console = (try? await OwnThread.run("construir-stages") { try FileSystem.readPrefix(of: consoleLog, count: Int(consoleCap) + 4096) }) ?? []
            record.result.stages = StageDriver.results(console: console, stages: plan.stages, nonce: stageNonce)
        }
        record.result.durations.collect = (ContinuousClock.now - collectStart).seconds
        return collected
    }
}
