import ConstruirSystem
import Foundation
import JobModel
import Logging
import VMHost

/// How a runner is put together from settings a command has parsed: the policy that fills in
/// what the settings leave open (slots, the warm budget, the embedded driver's root) and the
/// wiring (libvirt, the executor, the warm pool, the on-done hook). `construir run` and
/// `run-once` are their arguments and a call to `makeRunner`.
package struct RunnerSetup: Sendable {
    package var timeout: Duration
    package var memoryMiB: Int
    package var cpus: Int
    package var policy: RunnerPolicy
    /// nil: `defaultSlots`.
    package var slots: Int?
    package var acceleration: Acceleration
    /// A libvirt URI; nil: the embedded driver, rooted by `embeddedRoot`.
    package var connect: String?
    package var defaultImage: Int
    package var maxConsoleBytes: Int64
    package var maxJobBytes: Int64
    package var idlePriority: Bool
    package var images: String
    /// Where image file hashes are remembered between runs; nil: in the state directory.
    package var imageDigests: String?
    /// `--warm`: a count, or "auto".
    package var warm: String
    package var warmMaxAge: Duration
    package var warmImages: [Int]
    package var gracePeriod: Duration
    package var maxAttempts: Int
    package var exitWhenIdle: Bool
    package var pauseConditions: [any PauseCondition]
    package var onDone: (command: String, timeout: Duration)?
    /// `--secrets`: what jobs that ask for secrets by name are given.
    package var secrets: RunnerSecrets?

    package init(timeout: Duration, memoryMiB: Int, cpus: Int, policy: RunnerPolicy, slots: Int?, acceleration: Acceleration,
                 connect: String?, defaultImage: Int, maxConsoleBytes: Int64, maxJobBytes: Int64, idlePriority: Bool,
                 images: String, imageDigests: String?, warm: String, warmMaxAge: Duration, warmImages: [Int],
                 gracePeriod: Duration, maxAttempts: Int, exitWhenIdle: Bool, pauseConditions: [any PauseCondition],
                 onDone: (command: String, timeout: Duration)?) {
        self.timeout = timeout
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.policy = policy
        self.slots = slots
        self.acceleration = acceleration
        self.connect = connect
        self.defaultImage = defaultImage
        self.maxConsoleBytes = maxConsoleBytes
        self.maxJobBytes = maxJobBytes
        self.idlePriority = idlePriority
        self.images = images
        self.imageDigests = imageDigests
        self.warm = warm
        self.warmMaxAge = warmMaxAge
        self.warmImages = warmImages
        self.gracePeriod = gracePeriod
        self.maxAttempts = maxAttempts
        self.exitWhenIdle = exitWhenIdle
        self.pauseConditions = pauseConditions
        self.onDone = onDone
    }

    /// Checks what the settings must satisfy together, for the command to report.
    package func check() throws(ConstruirError) {
        func invalid(_ message: String) -> ConstruirError { ConstruirError(.invalidArgument, message) }
        guard memoryMiB >= 64 else { throw invalid("--memory must be at least 64M") }
        guard (1...64).contains(cpus) else { throw invalid("--cpus must be between 1 and 64") }
        guard timeout <= policy.maxTimeout, memoryMiB <= policy.maxMemoryMiB, cpus <= policy.maxCpus else {
            throw invalid("--timeout, --memory and --cpus must not exceed --max-timeout, --max-memory and --max-cpus")
        }
        guard maxAttempts >= 1 else { throw invalid("--max-attempts must be at least 1") }
        if let slots, !(1...256).contains(slots) { throw invalid("--slots must be between 1 and 256") }
        _ = try Self.warmCount(warm, acceleration: .tcg)
    }

    /// Where image file hashes are remembered, for a runner whose state is in `stateDirectory`.
    package func imageDigestStore(stateDirectory: String) -> String {
        FileSystem.absolute(imageDigests ?? "\(stateDirectory)/image-digests.json")
    }

    /// The runner of `source`, its state in `stateDirectory`. `maxAttempts` overrides the
    /// setting (a hub counts attempts itself); `digests` is shared with a source that needs
    /// them; `onPublished` runs after each published job, after the on-done hook.
    package func makeRunner<Source: JobSource>(source: Source, stateDirectory: String, identity: RunnerIdentity, logger: Logger,
                                               maxAttempts: Int? = nil, digests: ImageDigestCache? = nil,
                                               onPublished: (@Sendable (PublishedJob) async -> Void)? = nil) throws -> Runner<Source> {
        try check()
        let slots = self.slots ?? Self.defaultSlots(memoryMiB: memoryMiB, cores: ProcessInfo.processInfo.activeProcessorCount)
        let (acceleration, reason) = self.acceleration.resolved()
        if acceleration == .tcg {
            logger.notice("using TCG software emulation (slow; not a security boundary): \(reason)")
        } else {
            logger.info("using KVM: \(reason)")
        }
        let uri = connect ?? Hypervisor.embeddedURI(root: Self.embeddedRoot(stateDirectory: stateDirectory, identity: identity.id))
        let hypervisor = try Hypervisor(uri: uri, logger: logger)
        logger.info("libvirt connected", metadata: ["uri": "\(uri)", "libvirt": "\(Hypervisor.libraryVersion)"])

        var options = RunnerOptions(timeout: timeout, memoryMiB: memoryMiB, cpus: cpus, acceleration: acceleration,
                                    defaultImage: defaultImage, policy: policy, maxConsoleBytes: maxConsoleBytes,
                                    imageDigestStore: imageDigestStore(stateDirectory: stateDirectory))
        options.jobLimits.maxFileBytes = maxJobBytes
        options.idlePriority = idlePriority
        options.secrets = secrets
        if let secrets { logger.info("jobs may ask for these secrets", metadata: ["secrets": "\(secrets.names.joined(separator: ", "))"]) }
        IdlePriority.isEnabled = idlePriority
        if idlePriority { logger.info("running VMs and heavy work at idle priority (--priority normal turns it off)") }
        let imageStore = ImageStore(root: FileSystem.absolute(images))
        let digests = digests ?? ImageDigestCache(persistingTo: options.imageDigestStore)
        let warmPool = try makeWarmPool(acceleration: acceleration, slots: slots, stateDirectory: stateDirectory, identity: identity,
                                        images: imageStore, hypervisor: hypervisor, options: options, digests: digests, logger: logger)
        let executor = JobExecutor(images: imageStore, hypervisor: hypervisor, options: options, logger: logger, digests: digests, warm: warmPool)
        var configuration = RunnerConfiguration(slots: slots, gracePeriod: gracePeriod, maxAttempts: maxAttempts ?? self.maxAttempts,
                                                exitWhenIdle: exitWhenIdle)
        configuration.pauseConditions = pauseConditions
        for condition in pauseConditions {
            logger.info("volunteer preference", metadata: ["holds back with": "\(condition)"])
        }
        var afterPublish = onPublished
        if let onDone {
            let hook = OnDoneHook(command: onDone.command, timeout: onDone.timeout, logger: logger)
            afterPublish = { job in
                await hook.run(for: job)
                await onPublished?(job)
            }
        }
        return Runner(source: source, executor: executor, identity: identity, configuration: configuration,
                      logger: logger, onPublished: afterPublish)
    }

    /// The warm pool `--warm` asks for, or nil; without one, the files of warm VMs an earlier
    /// life of this runner kept go (their QEMU is destroyed at start).
    private func makeWarmPool(acceleration: Acceleration, slots: Int, stateDirectory: String, identity: RunnerIdentity,
                              images: ImageStore, hypervisor: Hypervisor, options: RunnerOptions, digests: ImageDigestCache,
                              logger: Logger) throws -> WarmPool? {
        let directory = "\(stateDirectory)/warm/\(identity.id)"
        let count = try Self.warmCount(warm, acceleration: acceleration)
        guard count > 0 else {
            try? FileManager.default.removeItem(atPath: directory)
            return nil
        }
        let policy = WarmPolicy(perImage: count, maxAge: warmMaxAge, maxMachines: Self.machineBudget(memoryMiB: memoryMiB, slots: slots),
                                images: warmImages.isEmpty ? nil : warmImages)
        logger.info("keeping VMs warm", metadata: ["per image": "\(count)", "most VMs": "\(policy.maxMachines)",
                                                   "max age": "\(Units.format(warmMaxAge))"])
        return WarmPool(policy: policy, directory: directory, images: images, hypervisor: hypervisor, options: options,
                        digests: digests, logger: logger,
                        record: ("\(identity.directory)/\(RunnerWarmVMs.fileName(runner: identity.id))", identity.id))
    }

    /// One VM per core, as long as each can have its memory with a quarter of the host's left
    /// for the host itself.
    package static func defaultSlots(memoryMiB: Int, cores: Int) -> Int {
        max(1, min(cores, machinesByMemory(memoryMiB: memoryMiB)))
    }

    /// How many VMs of `memoryMiB` fit with a quarter of the host's memory left for the host
    /// (each also gets 256 MiB for QEMU itself).
    package static func machinesByMemory(memoryMiB: Int) -> Int {
        let totalMiB = Int(ProcessInfo.processInfo.physicalMemory >> 20)
        return (totalMiB * 3 / 4) / (memoryMiB + 256)
    }

    /// `--warm`: a count, or auto (1 with KVM, 0 under TCG: see the option's help).
    package static func warmCount(_ value: String, acceleration: Acceleration) throws(ConstruirError) -> Int {
        if value == "auto" { return acceleration == .kvm ? 1 : 0 }
        guard let count = Int(value), (0...16).contains(count) else {
            throw ConstruirError(.invalidArgument, "--warm takes a count from 0 to 16, or auto")
        }
        return count
    }

    /// The most VMs at once, running and warm: what the memory allows as `defaultSlots` counts
    /// it, and never fewer than the slots. Warm VMs fill only what running jobs leave of it.
    package static func machineBudget(memoryMiB: Int, slots: Int) -> Int {
        max(slots, machinesByMemory(memoryMiB: memoryMiB))
    }

    /// The embedded driver's root. libvirt puts UNIX sockets below it, whose paths may not exceed
    /// 107 bytes, so a deep state directory gets a short root in this user's private runtime
    /// directory instead (`PrivateDirectory.runtimeBase`, else /tmp/construir-UID; either is
    /// made mode 0700 or refused when opened, see `Hypervisor.prepareEmbeddedRoot`), named by
    /// the sha256 of the path it stands for.
    /// Each runner identity has its own root (the embedded driver allows one process per root),
    /// and a runner restarted after a crash gets its predecessor's, with any VM it left behind.
    package static func embeddedRoot(stateDirectory: String, identity: String,
                                     environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        let preferred = "\(stateDirectory)/libvirt/\(identity)"
        if preferred.utf8.count <= maximumEmbeddedRootLength { return preferred }
        let name = String(Hex.sha256(preferred).prefix(16))
        let root = "\(PrivateDirectory.runtimeBase(environment: environment))/\(name)"
        return root.utf8.count <= maximumEmbeddedRootLength ? root : "/tmp/construir-\(geteuid())/\(name)"
    }

    /// The longest embedded-driver root whose sockets still fit in 107 bytes.
    package static let maximumEmbeddedRootLength = 48
}
