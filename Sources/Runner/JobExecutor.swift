import Archive
import ConstruirSystem
import Foundation
import Logging
import VMHost
import XZ

/// How the runner runs every job.
public struct RunnerOptions: Sendable {
    public var timeout: Duration
    public var memoryMiB: Int
    public var cpus: Int
    /// Already resolved: never `.auto`.
    public var acceleration: Acceleration
    public var defaultImage: Int
    /// The output disk is as large as the submitted job file (construir's convention: a job is
    /// padded to make room for its output), and at least this.
    public var minimumOutputSize: Int64
    public var extractionLimits: ExtractionLimits

    public init(timeout: Duration = .seconds(30 * 60), memoryMiB: Int = 1024, cpus: Int = 1,
                acceleration: Acceleration, defaultImage: Int = 0,
                minimumOutputSize: Int64 = 1 << 20, extractionLimits: ExtractionLimits = ExtractionLimits()) {
        self.timeout = timeout
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.acceleration = acceleration
        self.defaultImage = defaultImage
        self.minimumOutputSize = minimumOutputSize
        self.extractionLimits = extractionLimits
    }
}

/// Runs one claimed job from boot to a result: boot → wait → collect. Everything it produces
/// stays inside the job's running directory; publishing to done/ is the caller's step.
public struct JobExecutor: Sendable {
    public enum Outcome: Sendable {
        case finished(JobResult)
        /// The runner is stopping: the VM was destroyed and the job should go back to the queue.
        case interrupted
    }

    public let images: ImageStore
    public let hypervisor: Hypervisor
    public let options: RunnerOptions
    public let logger: Logger
    private let digests = ImageDigestCache()
    private let exiting = ExitingMachines()

    public init(images: ImageStore, hypervisor: Hypervisor, options: RunnerOptions, logger: Logger) {
        self.images = images
        self.hypervisor = hypervisor
        self.options = options
        self.logger = logger
    }

    public func execute(_ job: ClaimedJob) async -> Outcome {
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
            limits: .init(timeout: options.timeout.seconds, memoryMiB: options.memoryMiB, cpus: options.cpus,
                          acceleration: options.acceleration.rawValue),
            runner: "construir \(construirVersion)")

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

        // Refuse what is plainly not a job before booting anything.
        if let reason = Self.rejectionReason(jobPath: job.jobPath, size: jobSize) {
            return finish(.rejected, error: reason)
        }
        let image: BuildImage
        do {
            image = try images.image(job.name.image(default: options.defaultImage))
            result.image?.sha256 = try digests.digest(of: image)
        } catch {
            return finish(.error, error: "\(error)")
        }

        // Fresh disks for the guest's output and status.
        let outputDisk = "\(job.directory)/output.img"
        let statusDisk = "\(job.directory)/status.img"
        let consoleLog = "\(job.directory)/console.log"
        let outputSize = Self.roundUp(max(jobSize, options.minimumOutputSize), to: 4096)
        do {
            try FileSystem.createSparseFile(outputDisk, size: outputSize)
            try FileSystem.createSparseFile(statusDisk, size: Int64(GuestStatus.diskSize))
        } catch {
            return finish(.error, error: "cannot create the job's disks: \(error)")
        }
        result.sizes.outputDisk = outputSize
        defer {
            try? FileManager.default.removeItem(atPath: outputDisk)
            try? FileManager.default.removeItem(atPath: statusDisk)
        }

        // The job's files are handed to QEMU's user by libvirt when it runs as another user
        // (qemu:///system); build image files are never relabelled, so they stay identical.
        let relabel = !hypervisor.isEmbedded
        var disks: [DomainConfiguration.Disk] = [
            .init(path: job.jobPath, serial: "construir-job", readOnly: true, relabel: relabel),
            .init(path: outputDisk, serial: "construir-output", readOnly: false, relabel: relabel),
            .init(path: statusDisk, serial: "construir-status", readOnly: false, relabel: relabel),
        ]
        if let rootfs = image.rootfsPath {
            disks.append(.init(path: rootfs, serial: "construir-root", readOnly: true, relabel: false))
        }
        var configuration = DomainConfiguration(
            name: "construir-\(job.id)", acceleration: options.acceleration,
            memoryMiB: options.memoryMiB, cpus: options.cpus,
            kernel: image.kernelPath, initrd: image.initrdPath, commandLine: image.manifest.cmdline,
            disks: disks,
            consoleLog: consoleLog)
        configuration.relabelConsole = relabel

        // Boot and wait.
        let createStart = ContinuousClock.now
        let machine: VirtualMachine
        do {
            machine = try hypervisor.start(configuration)
        } catch {
            return finish(.error, error: "\(error)")
        }
        let created = ContinuousClock.now
        result.durations.vmStart = (created - createStart).seconds
        logger.info("VM started", metadata: ["image": "\(image.index)", "accel": "\(options.acceleration.rawValue)"])
        let stop = await machine.waitUntilStopped(timeout: options.timeout)
        exiting.add(machine)
        let stopped = ContinuousClock.now
        result.durations.vm = (stopped - created).seconds
        if Task.isCancelled, stop != .guestPoweredOff {
            logger.notice("runner stopping: job interrupted")
            return .interrupted
        }
        logger.info("VM stopped", metadata: ["reason": "\(stop)"])
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
        }
        let collectStart = ContinuousClock.now
        do {
            let summary = try OutputExtractor.extract(
                disk: outputDisk, to: "\(job.directory)/output",
                keepingArchiveAt: "\(job.directory)/output.tar.xz", limits: options.extractionLimits)
            result.sizes.outputArchive = summary.compressedLength
            result.sizes.outputFiles = summary.bytesWritten
            result.sizes.outputEntries = summary.entries
        } catch {
            problems.append("output: \(error)")
            result.sizes.outputArchive = try? FileSystem.size(of: "\(job.directory)/output.tar.xz")
        }
        result.durations.collect = (ContinuousClock.now - collectStart).seconds

        let problem = problems.isEmpty ? nil : problems.joined(separator: "; ")
        switch (stop, guest?.state) {
        case (.timedOut, _):
            return finish(.timedOut, error: "timed out after \(Self.format(options.timeout))" + (problem.map { "; \($0)" } ?? ""))
        case (_, .finished?):
            if let problem { return finish(.error, error: problem) }
            return finish(guest?.exitCode == 0 ? .passed : .failed)
        case (_, .error?):
            return finish(.error, error: "guest agent: \(guest?.error ?? "unspecified error")")
        case (_, .running?):
            return finish(.error, error: "the VM \(stop) while the job was running" + (problem.map { "; \($0)" } ?? ""))
        case (_, nil):
            return finish(.error, error: "the VM \(stop) without reporting a result" + (problem.map { "; \($0)" } ?? ""))
        }
    }

    /// Waits until the QEMU processes of finished jobs are gone. `execute` returns as soon as
    /// the guest has halted; the runner calls this before booting the next VM.
    public func settle() async {
        for machine in exiting.takeAll() { await machine.waitForTeardown() }
    }

    /// Why a submitted file cannot be a job, or nil when it may be one.
    static func rejectionReason(jobPath: String, size: Int64) -> String? {
        if size == 0 { return "the job file is empty" }
        guard let head = try? readPrefix(of: jobPath, count: XZ.magic.count) else { return "the job file cannot be read" }
        if head != XZ.magic { return "the job file is not xz-compressed (a job is a .tar.xz)" }
        return nil
    }

    static func readPrefix(of path: String, count: Int) throws -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConstruirError(.notFound, "cannot open \(path)")
        }
        defer { try? handle.close() }
        return [UInt8](try handle.read(upToCount: count) ?? Data())
    }

    static func roundUp(_ value: Int64, to multiple: Int64) -> Int64 {
        (value + multiple - 1) / multiple * multiple
    }

    static func format(_ duration: Duration) -> String {
        let seconds = duration.seconds
        return seconds == seconds.rounded() ? "\(Int(seconds))s" : String(format: "%.1fs", seconds)
    }
}

/// The version construir reports in results and logs.
public let construirVersion = "0.1.0"

extension Duration {
    /// The duration in seconds as a Double.
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}

/// VMs whose guest halted and whose QEMU may still be exiting.
final class ExitingMachines: @unchecked Sendable {
    private let lock = NSLock()
    private var machines: [VirtualMachine] = []

    func add(_ machine: VirtualMachine) {
        lock.lock(); machines.append(machine); lock.unlock()
    }

    func takeAll() -> [VirtualMachine] {
        lock.lock(); defer { lock.unlock() }
        let all = machines
        machines = []
        return all
    }
}

/// Verified image digests. An image's files are hashed and checked against its image.json once,
/// and again only when a file's identity changes: its inode, size, mtime or ctime, or image.json.
/// An image that does not match is refused (the error is cached the same way).
final class ImageDigestCache: @unchecked Sendable {
    private let lock = NSLock()
    private var cache: [String: (key: String, digest: String?, error: String?)] = [:]

    func digest(of image: BuildImage) throws -> String {
        var key = ""
        for file in image.verifiedFiles + ["image.json"] {
            var st = stat()
            guard stat("\(image.directory)/\(file)", &st) == 0 else { return try image.verifiedDigest() }
            key += "\(file):\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec):\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec);"
        }
        lock.lock()
        let hit = cache[image.directory]
        lock.unlock()
        if let hit, hit.key == key {
            if let digest = hit.digest { return digest }
            throw ConstruirError(.invalidArgument, hit.error ?? "build image \(image.index) does not match its image.json")
        }
        do {
            let digest = try image.verifiedDigest()
            lock.lock(); cache[image.directory] = (key, digest, nil); lock.unlock()
            return digest
        } catch {
            lock.lock(); cache[image.directory] = (key, nil, "\(error)"); lock.unlock()
            throw error
        }
    }
}
