import ConstruirSystem
import Foundation
import JobModel
import Logging
import ServiceLifecycle
import StatusServer

/// Runs a `StatusServer` on a free loopback port for `body`, then shuts it down.
package func withStatusServer<T: Sendable>(queue: String, done: String, source: (any StatusSource)? = nil,
                                   _ body: @Sendable (String) async throws -> T) async throws -> T {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let server = StatusServer(observer: source ?? QueueObserver(queueDirectory: queue, doneDirectory: done),
                              address: ListenAddress(host: "127.0.0.1", port: 0))
    let service = server.makeService(logger: Logger(label: "test")) { continuation.yield($0) }
    let group = ServiceGroup(configuration: .init(services: [.init(service: service)], logger: Logger(label: "test")))
    let running = Task { try await group.run() }
    defer { running.cancel() }
    var iterator = ports.makeAsyncIterator()
    guard let port = await iterator.next() else { throw ConstruirError(.internalError, "the status server never listened") }
    let result = try await body("http://127.0.0.1:\(port)")
    await group.triggerGracefulShutdown()
    try await running.value
    return result
}
