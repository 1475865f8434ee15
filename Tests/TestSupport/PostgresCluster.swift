import ConstruirSystem
import Foundation

/// A private PostgreSQL server for one test: a fresh cluster in a temporary directory, on a
/// free loopback port, trusted for one user, stopped and removed after the test whatever
/// happens. `initdb` refuses root, so under root the cluster runs as `nobody`, in a directory
/// only `nobody` may enter.
///
/// Debian's `postgresql` package (scripts/install-deps) provides it. Where it is missing, the
/// tests that need it skip with a reason, except under scripts/test
/// (CONSTRUIR_REQUIRE_POSTGRES=1), where they fail.
package struct PostgresCluster: Sendable {
    /// `postgres://construir@127.0.0.1:PORT/postgres`; `database(_:)` makes another.
    package let url: String
    package let port: Int
    let directory: String
    let bin: String
    let user: String?

    /// The server's binaries: the newest `/usr/lib/postgresql/N/bin` with `initdb`.
    package static var binaries: String? {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        return versions.compactMap(Int.init).sorted().reversed().map { "/usr/lib/postgresql/\($0)/bin" }
            .first { FileManager.default.isExecutableFile(atPath: "\($0)/initdb") }
    }

    package static var isRequired: Bool { ProcessInfo.processInfo.environment["CONSTRUIR_REQUIRE_POSTGRES"] == "1" }

    /// Whether the PostgreSQL tests run: the server is installed, or the run requires it.
    package static var available: Bool { binaries != nil || isRequired }

    /// Runs `body` with a new cluster, and stops and removes it afterwards.
    package static func with<T>(_ body: (PostgresCluster) async throws -> T) async throws -> T {
        let cluster = try await start()
        do {
            let value = try await body(cluster)
            await cluster.stop()
            return value
        } catch {
            await cluster.stop()
            throw error
        }
    }

    static func start() async throws -> PostgresCluster {
        guard let bin = binaries else { throw PostgresClusterError("PostgreSQL is not installed: no /usr/lib/postgresql/N/bin/initdb") }
        let base = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        var template = Array("\(base)/construir-pg-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw PostgresClusterError("cannot make a temporary directory") }
        let directory = String(cString: made)
        let user: String? = getuid() == 0 ? "nobody" : nil
        if user != nil {
            guard let entry = getpwnam("nobody") else { throw PostgresClusterError("no user nobody to run PostgreSQL as") }
            guard chown(directory, entry.pointee.pw_uid, entry.pointee.pw_gid) == 0 else {
                throw PostgresClusterError("cannot give \(directory) to nobody")
            }
        }
        for _ in 0..<5 {
            let port = Int.random(in: 20000...60000)
            let cluster = PostgresCluster(url: "postgres://construir@127.0.0.1:\(port)/postgres", port: port, directory: directory,
                                          bin: bin, user: user)
            if try await cluster.boot() { return cluster }
        }
        try? FileManager.default.removeItem(atPath: directory)
        throw PostgresClusterError("PostgreSQL did not start (see \(directory)/server.log)")
    }

    /// Makes database `name` and returns its URL.
    package func database(_ name: String) async throws -> String {
        let (status, output) = try await run(["\(bin)/createdb", "-h", "127.0.0.1", "-p", "\(port)", "-U", "construir", name])
        guard status == 0 else { throw PostgresClusterError("createdb \(name): \(output)") }
        return "postgres://construir@127.0.0.1:\(port)/\(name)"
    }

    private func boot() async throws -> Bool {
        if !FileManager.default.fileExists(atPath: "\(directory)/data") {
            let (status, output) = try await run(["\(bin)/initdb", "-D", "\(directory)/data", "-U", "construir", "-A", "trust",
                                                  "--no-sync", "-E", "UTF8"])
            guard status == 0 else { throw PostgresClusterError("initdb: \(output)") }
        }
        // fsync off: a test's database need not survive the machine's crash.
        let options = "-p \(port) -k \(directory) -c listen_addresses=127.0.0.1 -F -c max_connections=200"
        let (status, _) = try await run(["\(bin)/pg_ctl", "-D", "\(directory)/data", "-l", "\(directory)/server.log", "-o", options,
                                         "-w", "-t", "30", "start"])
        return status == 0
    }

    func stop() async {
        _ = try? await run(["\(bin)/pg_ctl", "-D", "\(directory)/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs a PostgreSQL tool as the cluster's user, its output into `DIR/tools.log`, never a
    /// pipe: the server `pg_ctl` starts would inherit a pipe's end and hold it open for its life.
    private func run(_ command: [String]) async throws -> (Int32, String) {
        let arguments = user.map { ["runuser", "-u", $0, "--"] + command } ?? command
        let logPath = "\(directory)/tools.log"
        let log = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard log >= 0 else { throw PostgresClusterError("cannot open \(logPath)") }
        defer { close(log) }
        let start = lseek(log, 0, SEEK_END)
        let child = try ChildProcess(arguments, directory: directory, output: .file(log), error: .standardOutput)
        let termination = await child.exit(timeout: .seconds(60))
        let all = (try? Data(contentsOf: URL(fileURLWithPath: logPath))) ?? Data()
        return (termination.status, String(decoding: all.dropFirst(Int(start)), as: UTF8.self))
    }
}

package struct PostgresClusterError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
