import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import TestSupport

/// A webhook's receiving end on loopback: records every request to POST /hook, and answers
/// 500 to the first `failures` of them, 200 after.
final class WebhookReceiver: Sendable {
    struct Received: Sendable {
        var headers: [String: String]
        var body: Data
        var status: Int
    }

    let received = Mutex<[Received]>([])
    private let failures: Int

    init(failures: Int = 0) {
        self.failures = failures
    }

    /// Serves on `port` (0: any free one) while `body` runs; `body` gets the port. Header
    /// names are recorded in lower case.
    func serve<T: Sendable>(port: Int = 0, _ body: @Sendable @escaping (Int) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let bytes = try await request.body.collect(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName] = field.value }
            let status = self.received.withLock { list -> Int in
                let status = list.count < self.failures ? 500 : 200
                list.append(Received(headers: headers, body: Data(buffer: bytes), status: status))
                return status
            }
            return Response(status: .init(code: status))
        }
        return try await serveOnLoopback(router, label: "webhook", port: port, body)
    }

    /// The first request answered 200, once one came within `timeout`.
    func accepted(within timeout: Duration) async throws -> Received? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let ok = received.withLock({ $0.first { $0.status == 200 } }) { return ok }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }
}
