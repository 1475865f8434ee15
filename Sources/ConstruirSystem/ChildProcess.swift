import CConstruir
import Foundation
import Glibc
import Synchronization

/// A program construir runs (git, the image build tools, doctor's probes, the on-done hook),
/// started the one way all of them are.
///
/// Why one hand-written helper: the child must inherit no descriptor of ours but its standard
/// ones (not the runner's locks, sockets, libvirt connections or another thread's pipe, whose
/// reader would wait for it), must have the signals the runner ignores or handles back at their
/// defaults, may get a process group of its own so that ending it ends what it started, and its
/// output must be readable synchronously into the caller's buffer (the packager streams git's
/// output this way). swift-subprocess was evaluated and does not fit: its API is async only
/// (three of these callers are synchronous, and the packager's pull-based pipeline would pay an
/// async hop per chunk), and its teardown stops once the direct child has exited, leaving a
/// grandchild that ignores SIGTERM alive.
///
/// Waiting (`wait`, `terminate`) blocks the calling thread; from async code use `exit(timeout:)`,
/// which waits on a thread of its own, never on one of Swift's cooperative pool.
package final class ChildProcess: Sendable {
    /// What the child reads.
    package enum Input: Sendable {
        case null
        /// Written to its standard input (then closed) from a thread of its own, so a child that
        /// writes much before reading cannot deadlock with the caller.
        case bytes(Data)
    }

    /// Where the child's standard output goes.
    package enum Output: Sendable {
        /// A pipe the caller reads with `read(into:)` or `readAll()`.
        case pipe
        case null
        /// A descriptor of the caller's (duplicated for the child; the caller keeps its own).
        case file(Int32)
    }

    /// Where the child's standard error goes.
    package enum ErrorOutput: Sendable {
        /// Read on a thread of its own until every process holding it has closed it; `errorOutput`
        /// after waiting.
        case collected
        case null
        /// Wherever standard output goes.
        case standardOutput
    }

    /// How the child ended.
    package enum Termination: Sendable, Equatable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)
        /// It ran past its time limit and was killed (with its process group, if it had one).
        case timedOut

        /// The status a shell would report: the exit code, or 128 plus the signal.
        package var status: Int32 {
            switch self {
            case .exited(let code): code
            case .signalled(let signal): 128 + signal
            case .timedOut: 128 + SIGKILL
            }
        }

        package var description: String {
            switch self {
            case .exited(let code): "exited with status \(code)"
            case .signalled(let signal): "was killed by signal \(signal)"
            case .timedOut: "ran past its time limit and was killed"
            }
        }
    }

    package let arguments: [String]
    package let pid: pid_t
    private let watch: Watch
    private let stdoutFD: Int32
    private let errorCollector: ErrorCollector?
    private let helpers = DispatchGroup()
    /// Set once the child was waited for or stopped.
    private let termination = Mutex<Termination?>(nil)

    /// Starts `arguments` (a program name without a slash is looked up in PATH). `environment` is
    /// the child's whole environment (nil: this process's). With `ownProcessGroup`, the child
    /// leads a new process group, which signals from `terminate` and timeouts go to. Blocks for
    /// up to a second while the program is busy (ETXTBSY): start it from a thread of its own.
    package init(_ arguments: [String], environment: [String: String]? = nil, directory: String? = nil,
                input: Input = .null, output: Output = .pipe, error: ErrorOutput = .collected,
                ownProcessGroup: Bool = false) throws(ConstruirError) {
        guard let program = arguments.first else { throw ConstruirError(.invalidArgument, "no program to run") }
        guard let executable = Self.find(program, path: environment?["PATH"]) else {
            throw ConstruirError(.notFound, "\(program) not found in PATH")
        }
        self.arguments = arguments
        var attributes = posix_spawnattr_t()
        var actions = posix_spawn_file_actions_t()
        posix_spawnattr_init(&attributes)
        posix_spawn_file_actions_init(&actions)
        var opened: [Int32] = []
        defer {
            posix_spawnattr_destroy(&attributes)
            posix_spawn_file_actions_destroy(&actions)
            // The child's ends (and, on failure, ours): the child has its copies.
            opened.forEach { Glibc.close($0) }
        }

        Self.setSignals(&attributes, ownProcessGroup: ownProcessGroup)
        let (stdinPipe, stdoutPipe, stderrPipe) = try Self.redirect(input, output, error, &actions, opened: &opened, program: program)
        if let directory {
            let failed = construir_spawn_chdir(&actions, directory)
            guard failed == 0 else { throw ConstruirError(.system, "cannot run \(program) in \(directory): \(String(cString: strerror(failed)))") }
        }
        let closing = spawnClosesDescriptors(from: 3, &actions)
        guard closing == 0 else {
            throw ConstruirError(.system, "cannot set up the descriptors of \(program): \(String(cString: strerror(closing)))")
        }

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        var status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        // A program written a moment ago (a script) can be open for writing in a child another
        // thread just forked, which holds a copy of the writer's descriptor until it execs:
        // exec fails with ETXTBSY for that moment. Wait it out, for up to a second.
        var busy = 0
        while status == ETXTBSY, busy < 50 {
            busy += 1
            usleep(20_000)
            status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        }
        guard status == 0 else {
            throw ConstruirError(.system, "cannot run \(program): \(String(cString: strerror(status)))")
        }
        self.pid = pid
        // The child is not reaped before `wait`, so its pid (and group id) cannot be reused before.
        watch = Watch(pid: pid, pidfd: construir_pidfd_open(pid), processGroup: ownProcessGroup)

        // Keep our ends of the pipes; the defer closes the child's.
        stdoutFD = stdoutPipe?.read ?? -1
        var keep: Set<Int32> = []
        if let stdoutPipe { keep.insert(stdoutPipe.read) }
        if let stderrPipe { keep.insert(stderrPipe.read) }
        if let stdinPipe, case .bytes = input { keep.insert(stdinPipe.write) }
        let collected = stderrPipe.map { (fd: $0.read, collector: ErrorCollector()) }
        errorCollector = collected?.collector
        Self.startHelpers(stderr: collected, stdin: stdinPipe?.write, input: input, helpers: helpers)
        opened.removeAll { keep.contains($0) }
    }

    private static func makePipe(_ program: String, _ opened: inout [Int32]) throws(ConstruirError) -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        guard construir_pipe_cloexec(&ends) == 0 else {
            throw ConstruirError(.system, "cannot make a pipe for \(program): \(String(cString: strerror(errno)))")
        }
        opened += ends
        return (ends[0], ends[1])
    }

    /// No blocked signals, and default handling of those the runner ignores or catches
    /// (ignoring is inherited across exec); a process group of its own when asked.
    private static func setSignals(_ attributes: inout posix_spawnattr_t, ownProcessGroup: Bool) {
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if ownProcessGroup {
            flags |= POSIX_SPAWN_SETPGROUP
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
    }

    /// Sets the child's stdin, stdout and stderr; returns the pipes made for them (both ends
    /// are also in `opened`, closed by the caller except those it keeps).
    private static func redirect(_ input: Input, _ output: Output, _ error: ErrorOutput, _ actions: inout posix_spawn_file_actions_t,
                                 opened: inout [Int32], program: String) throws(ConstruirError)
        -> (stdin: (read: Int32, write: Int32)?, stdout: (read: Int32, write: Int32)?, stderr: (read: Int32, write: Int32)?) {
        var stdinPipe: (read: Int32, write: Int32)?
        switch input {
        case .null: posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        case .bytes:
            let ends = try makePipe(program, &opened)
            stdinPipe = ends
            posix_spawn_file_actions_adddup2(&actions, ends.read, 0)
        }
        var stdoutPipe: (read: Int32, write: Int32)?
        switch output {
        case .pipe:
            let ends = try makePipe(program, &opened)
            stdoutPipe = ends
            posix_spawn_file_actions_adddup2(&actions, ends.write, 1)
        case .null: posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        case .file(let fd): posix_spawn_file_actions_adddup2(&actions, fd, 1)
        }
        var stderrPipe: (read: Int32, write: Int32)?
        switch error {
        case .collected:
            let ends = try makePipe(program, &opened)
            stderrPipe = ends
            posix_spawn_file_actions_adddup2(&actions, ends.write, 2)
        case .null: posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        case .standardOutput: posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        return (stdinPipe, stdoutPipe, stderrPipe)
    }

    /// Threads that collect the child's stderr and feed its stdin, so that neither pipe fills
    /// while the caller reads stdout; `helpers` is left when both are done.
    private static func startHelpers(stderr: (fd: Int32, collector: ErrorCollector)?, stdin: Int32?, input: Input, helpers: DispatchGroup) {
        if let (fd, errors) = stderr {
            helpers.enter()
            Thread.detachNewThread { [helpers] in
                errors.set(Self.readToEnd(fd))
                Glibc.close(fd)
                helpers.leave()
            }
        }
        if let fd = stdin, case .bytes(let data) = input {
            helpers.enter()
            Thread.detachNewThread { [helpers] in
                Self.feed(data, to: fd)
                Glibc.close(fd)
                helpers.leave()
            }
        }
    }

    deinit {
        if termination.withLock({ $0 }) == nil { terminate() }
        if stdoutFD >= 0 { Glibc.close(stdoutFD) }
    }

    /// The command line, for messages.
    package var command: String { arguments.joined(separator: " ") }

    /// Reads up to `buffer.count` bytes of standard output (`.pipe`); 0 at its end.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(ConstruirError) -> Int {
        do {
            return try systemCall("read", path: "the output of \(arguments[0])") { Glibc.read(stdoutFD, buffer.baseAddress, buffer.count) }
        } catch {
            throw ConstruirError(.system, "cannot read the output of \(command)", cause: error)
        }
    }

    /// Reads standard output (`.pipe`) to its end.
    package func readAll() throws(ConstruirError) -> [UInt8] {
        var result: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = try read(into: chunk)
            if n == 0 { return result }
            result.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[..<n]))
        }
    }

    /// Standard error (`.collected`) as text, once the child has been waited for.
    package var errorOutput: String {
        String(decoding: errorCollector?.get() ?? Data(), as: UTF8.self)
    }

    /// Waits for the child, blocking this thread. Past `timeout` it gets SIGTERM, and SIGKILL
    /// after `grace`; with a process group of its own, the signals go to the whole group, and
    /// whatever of the group is left then is killed.
    @discardableResult
    package func wait(timeout: Duration? = nil, grace: Duration = .seconds(2)) -> Termination {
        if let ended = termination.withLock({ $0 }) { return ended }
        let result = watch.wait(timeout: timeout, grace: grace)
        helpers.wait()
        termination.withLock { $0 = result }
        return result
    }

    /// Like `wait`, for async code: the waiting is done on a thread of its own.
    package func exit(timeout: Duration? = nil, grace: Duration = .seconds(2)) async -> Termination {
        if let ended = termination.withLock({ $0 }) { return ended }
        let (watch, helpers) = (watch, helpers)
        // The body does not throw. (A short name: Linux keeps 15 bytes of a thread name.)
        let result = try! await OwnThread.run("child-wait") {
            let result = watch.wait(timeout: timeout, grace: grace)
            helpers.wait()
            return result
        }
        termination.withLock { $0 = result }
        return result
    }

    /// Stops the child: SIGTERM, SIGKILL after `grace`, and waits for it.
    package func terminate(grace: Duration = .seconds(2)) {
        guard termination.withLock({ $0 }) == nil else { return }
        watch.stop(grace: grace)
        let ended = watch.reap()
        termination.withLock { $0 = ended }
        helpers.wait()
    }

    /// The full path of `program`, searched in `path` (default: this process's PATH) when it has
    /// no slash; nil if there is no such executable.
    package static func find(_ program: String, path: String? = nil) -> String? {
        if program.contains("/") { return access(program, X_OK) == 0 ? program : nil }
        let search = path ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in search.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(program)"
            var info = stat()
            if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    private static func readToEnd(_ fd: Int32) -> Data {
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 14)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n > 0 { data.append(contentsOf: chunk[..<n]); continue }
            if n < 0, errno == EINTR { continue }
            return data
        }
    }

    /// Writes all of `data` to `fd`. If the child exits early the write fails with EPIPE; the
    /// SIGPIPE that comes with it is blocked on this thread (and discarded when it ends), so it
    /// cannot kill this process.
    private static func feed(_ data: Data, to fd: Int32) {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            guard var base = buffer.baseAddress else { return }
            var remaining = buffer.count
            while remaining > 0 {
                let n = write(fd, base, remaining)
                if n < 0 {
                    if errno == EINTR { continue }
                    return
                }
                base += n
                remaining -= n
            }
        }
    }
}
