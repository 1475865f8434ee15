import NIOPosix

/// Runs short blocking file work of a server (a stat, an open, one chunk read or written, one
/// database statement) on NIO's thread pool: a bounded set of threads however many requests
/// come, never the cooperative pool.
///
/// The rule for blocking work (docs/architecture.md, "Which thread runs what"): work whose time
/// is bounded and short goes here; work that may take seconds, or grows with what it reads
/// (VM calls, hashing, archives, directory scans, waiting for processes), goes to `OwnThread`,
/// where it neither queues behind nor holds up this pool; nothing blocking runs on the
/// cooperative pool.
package enum FileWork {
    package static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}
