import NIOPosix

/// Where the hub's blocking file work runs: NIO's thread pool, a bounded set of threads however
/// many requests come, never the cooperative pool.
public struct HubBlocking: Sendable {
    public init() {}

    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(body)
    }
}
