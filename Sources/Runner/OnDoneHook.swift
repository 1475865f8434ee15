#if canImport(Glibc)
import Glibc
#endif
import ConstruirSystem
import Foundation
import Logging

/// A user's command run after each published job (`construir run --on-done COMMAND`), for
/// notifications. It runs as `/bin/sh -c COMMAND construir-on-done DONE_DIR`: the path is the
/// script's `$1`, passed as an argument and never pasted into the command text, so no job name can
/// inject shell code. It gets the environment plus `CONSTRUIR_DONE_DIR`, `CONSTRUIR_JOB`,
/// `CONSTRUIR_JOB_NAME`, `CONSTRUIR_JOB_STATUS`. Standard input is /dev/null; its output is
/// logged. A hook that fails, or runs past `timeout` (its whole process group is then killed),
/// is logged and changes nothing else: the job is already in done/.
public struct OnDoneHook: Sendable {
    public enum Outcome: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
        case couldNotStart(String)
    }

    public let command: String
    public let timeout: Duration
    public let logger: Logger

    public init(command: String, timeout: Duration = .seconds(60), logger: Logger) {
        self.command = command
        self.timeout = timeout
        self.logger = logger
    }

    /// Runs the hook for `job` and waits for it (at most `timeout` plus a grace of 2 s).
    @discardableResult
    public func run(for job: PublishedJob) async -> Outcome {
        let extra = [
            "CONSTRUIR_DONE_DIR": job.directory,
            "CONSTRUIR_JOB": job.result.job,
            "CONSTRUIR_JOB_NAME": job.result.name,
            "CONSTRUIR_JOB_STATUS": job.result.status.rawValue,
        ]
        let started = ContinuousClock.now
        let (outcome, output) = await Self.execute(
            ["/bin/sh", "-c", command, "construir-on-done", job.directory], extraEnvironment: extra, timeout: timeout)
        var metadata: Logger.Metadata = [
            "done": "\(job.directory)", "outcome": "\(outcome)",
            "seconds": "\(String(format: "%.2f", (ContinuousClock.now - started).seconds))",
        ]
        if !output.isEmpty { metadata["output"] = "\(output)" }
        if outcome == .exited(0) {
            logger.info("on-done hook finished", metadata: metadata)
        } else {
            logger.warning("on-done hook failed; the job is published regardless", metadata: metadata)
        }
        return outcome
    }

    /// Spawns `arguments` in a process group of its own, with stdout and stderr in a temporary
    /// file, and waits; returns how it ended and the last 4 KiB of its output.
    static func execute(_ arguments: [String], extraEnvironment: [String: String], timeout: Duration) async -> (Outcome, String) {
        var template = Array("\(NSTemporaryDirectory())/construir-hook-XXXXXX".utf8CString)
        let outputFD = mkstemp(&template)
        guard outputFD >= 0 else { return (.couldNotStart("cannot create a file for its output: errno \(errno)"), "") }
        let outputPath = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { close(outputFD); unlink(outputPath) }

        var environment = ProcessInfo.processInfo.environment
        environment.merge(extraEnvironment) { $1 }
        let pid: pid_t
        switch spawn(arguments, environment: environment.map { "\($0.key)=\($0.value)" }, outputFD: outputFD) {
        case .success(let spawned): pid = spawned
        case .failure(let message): return (.couldNotStart(message), "")
        }

        let outcome = await wait(for: pid, timeout: timeout)
        return (outcome, Self.tail(of: outputFD, limit: 4096))
    }

    private enum Spawned { case success(pid_t), failure(String) }

    private static func spawn(_ arguments: [String], environment: [String], outputFD: Int32) -> Spawned {
        var attributes = posix_spawnattr_t()
        var actions = posix_spawn_file_actions_t()
        posix_spawnattr_init(&attributes)
        posix_spawn_file_actions_init(&actions)
        defer {
            posix_spawnattr_destroy(&attributes)
            posix_spawn_file_actions_destroy(&actions)
        }
        // Its own process group (so a timeout kills what it started too), no blocked signals, and
        // default handling of the signals the runner ignores or catches (ignoring is inherited).
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 1)
        posix_spawn_file_actions_adddup2(&actions, outputFD, 2)
        // Nothing else of ours: not the runner's locks, sockets or libvirt connections, and not
        // another thread's pipe, whose reader would otherwise wait for the hook to end.
        let closing = spawnClosesDescriptors(from: 3, &actions)
        guard closing == 0 else { return .failure("cannot set up its descriptors: \(String(cString: strerror(closing)))") }

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard status == 0 else { return .failure("\(arguments[0]): \(String(cString: strerror(status)))") }
        return .success(pid)
    }

    private static func wait(for pid: pid_t, timeout: Duration) async -> Outcome {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var status: Int32 = 0
        var pause = Duration.milliseconds(5)
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return outcome(status) }
            if reaped < 0, errno != EINTR { return .couldNotStart("waitpid: errno \(errno)") }
            if clock.now >= deadline { break }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(100))
        }
        kill(-pid, SIGTERM)
        let grace = clock.now + .seconds(2)
        while clock.now < grace {
            if waitpid(pid, &status, WNOHANG) == pid { return .timedOut }
            try? await Task.sleep(for: .milliseconds(20))
        }
        kill(-pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        return .timedOut
    }

    private static func outcome(_ status: Int32) -> Outcome {
        let signal = status & 0x7f
        return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    private static func tail(of fd: Int32, limit: Int) -> String {
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return "" }
        let start = max(0, Int(size) - limit)
        var buffer = [UInt8](repeating: 0, count: Int(size) - start)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
        guard count > 0 else { return "" }
        return String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
