import Foundation
import Hummingbird
import Synchronization
import TestSupport

/// A forge's commit status API on loopback: records every `POST
/// /api/v1/repos/OWNER/REPO/statuses/SHA`, answering 500 to the first `failures`.
final class ForgeReceiver: Sendable {
    struct Status: Sendable {
        var path: String
        var authorization: String?
        var fields: [String: String]
    }

    let received = Mutex<[Status]>([])
    private let failures: Int
    private let attempts = Mutex(0)

    init(failures: Int = 0) {
        self.failures = failures
    }

    var statuses: [Status] { received.withLock { $0 } }

    /// Serves while `body` runs; `body` gets the API's base URL.
    func serve<T: Sendable>(_ body: @Sendable @escaping (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("/api/v1/repos/:owner/:repo/statuses/:sha") { request, _ -> Response in
            let attempt = self.attempts.withLock { count -> Int in
                count += 1
                return count
            }
            guard attempt > self.failures else { return Response(status: .internalServerError) }
            let bytes = try await request.body.collect(upTo: 1 << 16)
            let fields = (try? JSONSerialization.jsonObject(with: Data(buffer: bytes))) as? [String: String] ?? [:]
            let status = Status(path: request.uri.path, authorization: request.headers[.authorization], fields: fields)
            self.received.withLock { $0.append(status) }
            return Response(status: .created)
        }
        return try await serveOnLoopback(router, label: "forge") { port in try await body("http://127.0.0.1:\(port)/api/v1") }
    }
}
