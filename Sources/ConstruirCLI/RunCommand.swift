import ArgumentParser
import ConstruirSystem
import Foundation
import HubClient
import JobModel
import Logging
import Runner
import ServiceLifecycle
import StatusServer
import VMHost

/// `construir run`: watch a queue directory and run each job in a fresh VM.
package struct RunCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Watch the queue directory and run each job in a VM without network.",
        discussion: """
        A job is a NAME_iN.tar.xz file: it runs on build image N (or --default-image) and lands in \
        DONE/NAME/ with result.json, console.log, output.tar.xz and the extracted output/.
        """)

    @Option(help: "Directory watched for jobs.") var queue = "queue"
    @Option(help: "Directory that receives finished jobs.") var done = "done"
    @Option(help: "Directory holding the build images (images/N/image.json).") var images = "images"
    @Option(help: "Runner state directory; must be on the queue's filesystem. Default: QUEUE/.construir, or with --hub $XDG_STATE_HOME/construir/runner")
    var state: String?
    /// `--hub`: pull jobs from a hub instead of a queue directory.
    @OptionGroup var hubConnection: HubConnection
    @Flag(help: "With --hub: fetch the hub's build images that differ from ours (or that we lack) at start, and again while idle, at most once a minute.")
    var pullImages = false
    @Option(help: "VMs at once. Default: from the host's cores and memory.") var slots: Int?
    @Option(help: "Longest a job may run, e.g. 90s, 30m, 2h (a job's manifest may ask for up to --max-timeout).")
    var timeout = "30m"
    @Option(help: "Guest memory, e.g. 512M, 1G.") var memory = "1G"
    @Option(help: "Guest vCPUs.") var cpus = 1
    @Option(help: "On SIGTERM/SIGINT, how long running jobs may finish before they are returned to the queue.")
    var grace = "30s"
    @Option(help: "Runs of a job whose runner died before it is given up with status error.") var maxAttempts = 3
    @Option(help: "Remove the oldest unpinned jobs from done/ beyond this size, e.g. 20G (pin: touch done/NAME/.pinned).")
    var keepDone: String?
    @Option(help: "Most a job's manifest (job/construir.yml) may ask for: timeout.") var maxTimeout = "6h"
    @Option(help: "Most a job's manifest may ask for: memory.") var maxMemory = "8G"
    @Option(help: "Most a job's manifest may ask for: vCPUs. Default: the host's cores.") var maxCpus: Int?
    @Option(help: "Largest output disk a job gets (its padding or output_size).") var maxOutputSize = "4G"
    @Option(help: "Largest job file accepted; larger ones are rejected.") var maxJobSize = "4G"
    @Option(help: "Console log cap; a guest printing more is destroyed.") var maxConsole = "16M"
    @Option(help: "Image for jobs whose name has no _iN.") var defaultImage = 0
    @Option(name: .customLong("tag"), help: ArgumentHelp("A tag this runner has, besides arch:, accel:, cpus: and memory: (repeatable): it runs jobs that ask for it (tags: in job/construir.yml), and leaves a shared queue's jobs whose tags it lacks for other runners.", valueName: "TAG"))
    var tags: [String] = []
    @Option(help: ArgumentHelp("A YAML file of NAME: value (mode 0600, yours): the secrets a job may ask for by name (secrets: in job/construir.yml). They reach the guest on a disk of their own and are replaced by [secret NAME] in console.log and job_output.txt. Give them only to jobs you trust.", valueName: "FILE"))
    var secrets: String?
    @Option(help: "idle: QEMU and the runner's heavy work run at idle CPU and I/O priority, so the machine's own programs come first; normal: as any program. Default: idle with --hub (a volunteer's machine), else normal.")
    var priority: RunPriority?
    @Option(help: ArgumentHelp("Claim jobs only in these hours, local time (repeatable, or comma-separated).", valueName: "HH:MM-HH:MM"))
    var hours: [String] = []
    @Option(help: "With --hours: at a window's end a running job finishes, or its VM pauses until the next window. Default: finish.")
    var windowEnd: HoursCondition.WindowEnd?
    @Option(help: ArgumentHelp("Pause running VMs, and claim nothing, while other programs use more than PCT % of the CPUs (averaged over 10 s; resumes once they use 15 points less, or half as much for a low PCT).", valueName: "PCT"))
    var pauseWhenBusy: Int?
    @Flag(help: "Pause running VMs, and claim nothing, while the machine runs on battery.")
    var pauseOnBattery = false
    @Option(help: ArgumentHelp("Read options from this YAML file, each named as here with _ for - (docs/volunteer.md); the command line wins.", valueName: "FILE"))
    var config: String?
    @Option(help: ArgumentHelp("VMs kept booted per build image, waiting for a job, so that a job starts without a boot (docs/performance.md). auto: 1 with KVM, where a waiting guest costs about 100 MiB and no measurable CPU; 0 under TCG, a developer's machine, where no guest is kept running unasked.", valueName: "N|auto"))
    var warm = "auto"
    @Option(help: "A warm VM that waited this long is replaced by a fresh one.") var warmMaxAge = "1h"
    @Option(help: ArgumentHelp("Keep only this image warm (repeatable). Default: every image whose agent can wait (guest protocol 3).", valueName: "N"))
    var warmImage: [Int] = []
    @Option(help: "libvirt URI. Default: the embedded QEMU driver (no daemon), qemu:///embed?root=STATE/libvirt")
    var connect: String?
    @Option(help: "auto, kvm or tcg. auto uses KVM only when it is usable.") var accel: Acceleration = .auto
    @Flag(help: "Exit once the queue is empty instead of watching for more jobs.") var exitWhenIdle = false
    @Flag(help: "Log debug details.") var verbose = false
    @Flag(help: "Do not warn when running as root (CI).") var allowRoot = false
    @Option(help: "Log format on standard error: text, or json (one object per line).") var logFormat: LogFormat = .text
    @Option(help: ArgumentHelp("Also serve the status page, JSON API and /metrics here (as construir serve does).", valueName: "HOST:PORT"))
    var http: String?
    @Option(help: ArgumentHelp("After each job is published, run /bin/sh -c COMMAND with the job's done directory as $1. Its failure is logged and changes nothing else.", valueName: "COMMAND"))
    var onDone: String?
    @Option(help: "Longest the --on-done command may run before it is killed, e.g. 30s.") var onDoneTimeout = "60s"
    /// Where image file hashes are remembered between runs; `run-once`, whose state directory
    /// is thrown away, points it at its kept libvirt root.
    @Option(help: .hidden) var imageDigests: String?

    package init() {}

    /// `--hours`, each comma-separated window on its own.
    private var computeWindows: [String] {
        hours.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    }

    package func validate() throws {
        if let http { _ = try Self.validated { try ListenAddress(parsing: http) } }
        if hubConnection.hub != nil, http != nil || keepDone != nil {
            throw ValidationError("--http and --keep-done are for a queue directory; a hub runner has neither")
        }
        if pullImages, hubConnection.hub == nil { throw ValidationError("--pull-images goes with --hub") }
        _ = try Self.validated { try Units.duration(onDoneTimeout) }
        _ = try Self.validated { try ComputeHours(parsing: computeWindows) }
        if windowEnd != nil, computeWindows.isEmpty { throw ValidationError("--window-end goes with --hours") }
        if let pauseWhenBusy, !(1...100).contains(pauseWhenBusy) { throw ValidationError("--pause-when-busy takes a percentage from 1 to 100") }
        _ = try Self.validated { try RunnerSetup.warmCount(warm, acceleration: .tcg) }
        _ = try Self.validated { try Units.duration(warmMaxAge) }
        if onDone?.trimmingCharacters(in: .whitespaces).isEmpty == true {
            throw ValidationError("--on-done needs a command")
        }
    }

    package func run() async throws {
        if config != nil {
            var command = try applyingConfig(commandLine: Self.commandLineArguments())
            command.config = nil
            try command.validate()
            try await command.run()
            return
        }
        signal(SIGPIPE, SIG_IGN)  // a closed pipe is an error to handle, not a reason to die
        let logger = Self.makeLogger(verbose: verbose, format: logFormat)
        if let warning = Self.rootWarning(euid: geteuid(), allowRoot: allowRoot) { logger.warning("\(warning)") }
        if hubConnection.hub != nil {
            let runner = try makeHubRunner(logger: logger)
            do {
                try await CommandServices.run(runner, logger: logger)
            } catch {
                await runner.source.client.shutdown()
                throw error
            }
            await runner.source.client.shutdown()
            return
        }
        let runner = try makeRunner(logger: logger)
        var others: [any Service] = []
        if let http {
            let (queue, done) = (runner.source.queue, runner.source.done)
            let observer = QueueObserver(queueDirectory: queue.queueDirectory, doneDirectory: done.directory,
                                         stateDirectory: queue.stateDirectory, defaultImage: defaultImage)
            others.append(ServeCommand.makeServer(observer: observer, listen: try ListenAddress(parsing: http), logger: logger))
        }
        try await CommandServices.run(runner, beside: others, logger: logger)
    }

    /// Builds the runner from the options (separate from `run` so tests can use it).
    /// `onPublished` runs after each published job, after the `--on-done` hook.
    package func makeRunner(logger: Logger, onPublished: (@Sendable (PublishedJob) async -> Void)? = nil) throws -> Runner<QueueDirectorySource> {
        let queueDirectory = FileSystem.absolute(queue)
        let doneDirectory = FileSystem.absolute(done)
        let stateDirectory = FileSystem.absolute(state ?? "\(queueDirectory)/.construir")
        try FileSystem.makeDirectory(queueDirectory)
        let jobQueue = try JobQueue(queueDirectory: queueDirectory, stateDirectory: stateDirectory)
        let identity = try RunnerIdentity.acquire(stateDirectory: stateDirectory)
        let source = QueueDirectorySource(queue: jobQueue, done: try DoneStore(directory: doneDirectory), identity: identity,
                                          keepDoneBytes: try keepDone.map { try Units.byteSize($0) }, tags: try runnerTags(), logger: logger)
        return try setup().makeRunner(source: source, stateDirectory: stateDirectory, identity: identity, logger: logger,
                                      onPublished: onPublished)
    }

    /// The runner of `--hub`: jobs from the hub, its files in a private state directory.
    package func makeHubRunner(logger: Logger, onPublished: (@Sendable (PublishedJob) async -> Void)? = nil) throws -> Runner<HubJobSource> {
        guard let client = try hubConnection.makeClient() else { throw ValidationError("no --hub given") }
        let stateDirectory = FileSystem.absolute(state ?? Self.defaultHubState())
        try PrivateDirectory.make(stateDirectory)
        let identity = try RunnerIdentity.acquire(stateDirectory: stateDirectory)
        let setup = try setup()
        // One digest cache for the claims (which name our images' digests) and the executor.
        let digests = ImageDigestCache(persistingTo: setup.imageDigestStore(stateDirectory: stateDirectory))
        let source = try HubJobSource(client: client, stateDirectory: stateDirectory, logger: logger,
                                      images: ImageStore(root: FileSystem.absolute(images)), digests: digests,
                                      defaultImage: defaultImage, pullImages: pullImages, identity: identity, tags: try runnerTags().tags)
        // The hub counts a job's attempts (its leases) and ends it after its own --max-attempts.
        return try setup.makeRunner(source: source, stateDirectory: stateDirectory, identity: identity, logger: logger,
                                    maxAttempts: .max, digests: digests, onPublished: onPublished)
    }

    /// `$XDG_STATE_HOME/construir/runner`, else `~/.local/state/construir/runner`.
    static func defaultHubState(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let base = environment["XDG_STATE_HOME"], base.hasPrefix("/") { return "\(base)/construir/runner" }
        return "\(environment["HOME"] ?? NSHomeDirectory())/.local/state/construir/runner"
    }

    /// The runner's settings, parsed from the options; settings that do not go together are a
    /// `ValidationError`, as ArgumentParser reports them.
    /// The runner's tags: the machine's, and `--tag`.
    package func runnerTags() throws -> RunnerTags {
        try RunnerTags.make(acceleration: accel.resolved().0, own: tags)
    }

    func setup() throws -> RunnerSetup {
        let memoryMiB = Int(try Units.byteSize(memory) >> 20)
        let policy = RunnerPolicy(maxTimeout: try Units.duration(maxTimeout), maxMemoryMiB: Int(try Units.byteSize(maxMemory) >> 20),
                                  maxCpus: maxCpus ?? ProcessInfo.processInfo.activeProcessorCount,
                                  maxOutputSize: try Units.byteSize(maxOutputSize))
        var setup = RunnerSetup(
            timeout: try Units.duration(timeout), memoryMiB: memoryMiB, cpus: cpus, policy: policy, slots: slots,
            acceleration: accel, connect: connect, defaultImage: defaultImage, maxConsoleBytes: try Units.byteSize(maxConsole),
            maxJobBytes: try Units.byteSize(maxJobSize), idlePriority: (priority ?? (hubConnection.hub != nil ? .idle : .normal)) == .idle,
            images: images, imageDigests: imageDigests, warm: warm, warmMaxAge: try Units.duration(warmMaxAge), warmImages: warmImage,
            gracePeriod: try Units.duration(grace, allowZero: true), maxAttempts: maxAttempts, exitWhenIdle: exitWhenIdle,
            pauseConditions: try pauseConditions(), onDone: try onDone.map { ($0, try Units.duration(onDoneTimeout)) })
        try Self.validated { try setup.check() }
        if let secrets { setup.secrets = try Self.validated { try RunnerSecrets.load(secrets) } }
        return setup
    }

    /// What makes this runner hold back: `--hours`, `--pause-when-busy`, `--pause-on-battery`.
    func pauseConditions() throws -> [any PauseCondition] {
        var conditions: [any PauseCondition] = []
        if !computeWindows.isEmpty {
            conditions.append(HoursCondition(hours: try ComputeHours(parsing: computeWindows), windowEnd: windowEnd ?? .finish))
        }
        if let pauseWhenBusy { conditions.append(BusyCondition(percent: Double(pauseWhenBusy))) }
        if pauseOnBattery { conditions.append(BatteryCondition()) }
        return conditions
    }

    /// Why root is discouraged: a guest that escapes QEMU (certainly possible under TCG) would
    /// hold everything the runner holds. nil when not root or when told to allow it.
    static func rootWarning(euid: uid_t, allowRoot: Bool) -> String? {
        guard euid == 0, !allowRoot else { return nil }
        return "running as root: a job that escapes its VM would own this machine; run construir as a "
            + "dedicated unprivileged user (docs/volunteer.md), or pass --allow-root to silence this"
    }

    static func makeLogger(verbose: Bool, format: LogFormat = .text) -> Logger {
        LogSetup.once(format: format)
        var logger = Logger(label: "construir")
        logger.logLevel = verbose ? .debug : .info
        return logger
    }
}

extension Acceleration: ExpressibleByArgument {}
extension HoursCondition.WindowEnd: ExpressibleByArgument {}

extension RunCommand {
    /// Runs `body`, turning its error into the command line's usage error.
    static func validated<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw ValidationError("\(error)") }
    }
}
