import Hummingbird
import Logging

/// Serves `router` on a free loopback port while `body` runs (an in-test receiver of webhooks
/// or forge statuses); `body` gets the port, and the server stops when it returns.
package func serveOnLoopback<T: Sendable>(_ router: Router<BasicRequestContext>, label: String, port: Int = 0,
                                          _ body: @Sendable @escaping (Int) async throws -> T) async throws -> T {
    let bound = AsyncStream<Int>.makeStream()
    let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                          onServerRunning: { bound.continuation.yield($0.localAddress?.port ?? port) }, logger: Logger(label: label))
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await app.runService()
            return nil
        }
        var ports = bound.stream.makeAsyncIterator()
        guard let port = await ports.next() else { throw CancellationError() }
        defer { group.cancelAll() }
        return try await body(port)
    }
}
