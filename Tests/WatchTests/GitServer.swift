import Foundation
import Glibc
import TestSupport

/// git for the watch tests' repositories (`gitForTests`).
@discardableResult
func git(_ arguments: [String], in directory: String) async throws -> String {
    try await gitForTests(arguments, in: directory)
}

/// A work tree `DIR/work/NAME` whose commits are pushed to the bare `DIR/served/NAME.git`,
/// which `GitServer` serves.
struct TestRepository {
    let work: String
    let bare: String
    let name: String

    /// `path` is the repository's path on the server without `.git` (`app`, `team/app`).
    static func make(_ path: String, in directory: String) async throws -> TestRepository {
        let repository = TestRepository(work: "\(directory)/work/\(path)", bare: "\(directory)/served/\(path).git",
                                        name: (path as NSString).lastPathComponent)
        try FileManager.default.createDirectory(atPath: repository.work, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: repository.bare, withIntermediateDirectories: true)
        try await git(["init", "-q", "--bare"], in: repository.bare)
        try await git(["init", "-q"], in: repository.work)
        try await git(["remote", "add", "origin", repository.bare], in: repository.work)
        return repository
    }

    /// Writes `files` (path → contents; a `construir` script is executable), commits them on
    /// the current branch, and returns the commit.
    @discardableResult
    func commit(_ message: String, _ files: [String: String] = [:]) async throws -> String {
        for (path, contents) in files {
            let full = "\(work)/\(path)"
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try contents.write(toFile: full, atomically: true, encoding: .utf8)
            if path == "construir" { chmod(full, 0o755) }
        }
        try await git(["add", "-A"], in: work)
        try await git(["commit", "-q", "--allow-empty", "-m", message], in: work)
        return try await git(["rev-parse", "HEAD"], in: work)
    }

    func push(_ refs: String...) async throws {
        try await git(["push", "-q", "--force", "origin"] + refs, in: work)
    }
}

/// `git daemon` serving a directory's repositories on a free loopback port; stopped by `stop`.
final class GitServer: @unchecked Sendable {
    let port: Int
    private let process: Process

    private init(port: Int, process: Process) {
        self.port = port
        self.process = process
    }

    func url(_ name: String) -> String { "git://127.0.0.1:\(port)/\(name).git" }

    /// Starts serving `base`, trying another port if the one found free was taken meanwhile.
    static func start(serving base: String) async throws -> GitServer {
        for _ in 0..<5 {
            let port = try freePort()
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/lib/git-core/git-daemon")
            process.arguments = ["--export-all", "--reuseaddr", "--base-path=\(base)", "--listen=127.0.0.1", "--port=\(port)"]
            process.standardError = FileHandle(forWritingAtPath: "/dev/null")
            try process.run()
            let server = GitServer(port: port, process: process)
            if try await server.waitUntilListening() { return server }
            server.stop()
        }
        throw TestSetupError("git daemon did not start")
    }

    /// Waits for the daemon to accept connections; false if it exited instead.
    private func waitUntilListening() async throws -> Bool {
        while process.isRunning {
            if Self.connects(port) { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// SIGKILL: the daemon inherits the test process's blocked signals, SIGTERM among them.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    private static func connects(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestSetupError("cannot bind a loopback port") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func loopback(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}
