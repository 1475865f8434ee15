#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ConstruirSystem
import Foundation

/// A child process (here always `git`) with its standard output read by the caller, standard
/// error collected in the background, and optionally its standard input fed from a background
/// thread, so that neither side can block the other however much is written.
final class ChildProcess {
    let arguments: [String]
    private let process = Process()
    private let stdoutFD: Int32
    private let stdoutHandle: FileHandle
    private let stderrCollector = ErrorCollector()
    private let stderrDone = DispatchGroup()
    private let stdinDone = DispatchGroup()
    private var waited = false

    /// Environment variables that would make git look at another repository than the one named
    /// on its command line (set, for example, when construir is run from a git hook).
    static let strippedEnvironment: Set<String> = [
        "GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_PREFIX", "GIT_CEILING_DIRECTORIES",
    ]

    /// Starts `git ARGUMENTS` in `directory`. With `input`, the bytes are written to its standard
    /// input (then closed) from a background thread; without, standard input is /dev/null.
    init(git arguments: [String], in directory: String? = nil, input: Data? = nil) throws(ConstruirError) {
        self.arguments = ["git"] + arguments
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = self.arguments
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        var environment = ProcessInfo.processInfo.environment.filter { !Self.strippedEnvironment.contains($0.key) }
        environment["GIT_TERMINAL_PROMPT"] = "0"
        environment["GIT_OPTIONAL_LOCKS"] = "0"
        process.environment = environment
        let stdout = Pipe()
        let stderr = Pipe()
        let stdin = input.map { _ in Pipe() }
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = stdin ?? FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw ConstruirError(.system, "cannot run git (is it installed and on PATH?)", cause: DescribedError(error))
        }
        stdoutHandle = stdout.fileHandleForReading
        stdoutFD = stdoutHandle.fileDescriptor
        // Our copies of the child's ends must go, or EOF never comes.
        try? stdout.fileHandleForWriting.close()
        try? stderr.fileHandleForWriting.close()

        let errorHandle = stderr.fileHandleForReading
        let collector = stderrCollector
        stderrDone.enter()
        let stderrGroup = stderrDone
        Thread.detachNewThread {
            collector.set(errorHandle.readDataToEndOfFile())
            try? errorHandle.close()
            stderrGroup.leave()
        }
        if let stdin, let input {
            try? stdin.fileHandleForReading.close()
            let writeFD = stdin.fileHandleForWriting.fileDescriptor
            let writeHandle = stdin.fileHandleForWriting
            stdinDone.enter()
            let stdinGroup = stdinDone
            Thread.detachNewThread {
                Self.feed(input, to: writeFD)
                try? writeHandle.close()
                stdinGroup.leave()
            }
        }
    }

    deinit {
        if !waited {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
            stdinDone.wait()
            stderrDone.wait()
        }
        try? stdoutHandle.close()
    }

    /// Writes all of `data` to `fd`. If the child exits early the write fails with EPIPE; the
    /// SIGPIPE that comes with it is blocked on this thread (and discarded when it ends), so it
    /// cannot kill the process.
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

    /// Reads up to `buffer.count` bytes of standard output; 0 at its end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws(ConstruirError) -> Int {
        do {
            return try systemCall("read", path: "git output") { Glibc.read(stdoutFD, buffer.baseAddress, buffer.count) }
        } catch {
            throw ConstruirError(.system, "cannot read the output of \(command)", cause: error)
        }
    }

    /// Reads standard output to its end.
    func readAll() throws(ConstruirError) -> [UInt8] {
        var result: [UInt8] = []
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 16)
        defer { chunk.deallocate() }
        while true {
            let n = try read(into: chunk)
            if n == 0 { return result }
            result.append(contentsOf: UnsafeRawBufferPointer(rebasing: chunk[..<n]))
        }
    }

    /// Waits for the child and returns its exit status and standard error.
    func wait() -> (status: Int32, stderr: String) {
        if !waited {
            process.waitUntilExit()
            stdinDone.wait()
            stderrDone.wait()
            waited = true
        }
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return (status, String(decoding: stderrCollector.get(), as: UTF8.self))
    }

    /// Stops the child (SIGTERM) and waits for it.
    func terminate() {
        if !waited && process.isRunning { process.terminate() }
        _ = wait()
    }

    var command: String { arguments.joined(separator: " ") }

    /// Runs `git ARGUMENTS` to completion and returns its standard output; throws with git's
    /// own message if it exits non-zero.
    static func run(git arguments: [String], in directory: String? = nil, input: Data? = nil,
                    failure: (String) -> ConstruirError) throws(ConstruirError) -> [UInt8] {
        let (output, status, stderr) = try complete(git: arguments, in: directory, input: input)
        guard status == 0 else { throw failure(Self.summary(stderr)) }
        return output
    }

    /// Like `run`, but a non-zero exit gives nil (for questions git answers with its status).
    static func output(git arguments: [String], in directory: String? = nil) throws(ConstruirError) -> [UInt8]? {
        let (output, status, _) = try complete(git: arguments, in: directory)
        return status == 0 ? output : nil
    }

    /// Runs git to its end: all of its standard output, its exit status and its error output.
    /// A failed read terminates it rather than leaving it blocked on a full pipe.
    private static func complete(git arguments: [String], in directory: String?, input: Data? = nil)
        throws(ConstruirError) -> (output: [UInt8], status: Int32, stderr: String) {
        let child = try ChildProcess(git: arguments, in: directory, input: input)
        let output: [UInt8]
        do {
            output = try child.readAll()
        } catch {
            child.terminate()
            throw error
        }
        let (status, stderr) = child.wait()
        return (output, status, stderr)
    }

    /// git's error output made into one line for a message.
    static func summary(_ stderr: String) -> String {
        let lines = stderr.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("hint:") }
        let text = lines.prefix(3).joined(separator: "; ")
        return text.isEmpty ? "git failed" : text
    }
}

/// Standard error bytes, handed from the thread that reads them to the one that reports them.
private final class ErrorCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func set(_ value: Data) { lock.withLock { data = value } }
    func get() -> Data { lock.withLock { data } }
}

/// Wraps a non-Sendable error's description so it can be a `ConstruirError` cause.
struct DescribedError: Error, Sendable, CustomStringConvertible {
    let description: String
    init(_ error: any Error) { description = "\(error)" }
}

extension [UInt8] {
    /// The bytes as text, without one trailing newline.
    var trimmedLine: String {
        var bytes = self[...]
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}
