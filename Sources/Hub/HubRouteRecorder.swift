import HTTPTypes
import Hummingbird
import OpenAPIHummingbird
import OpenAPIRuntime

/// Registers the generated operations on the router, and keeps each path's methods as they
/// are added: what `HubMethodNotAllowed` answers 405 with. A request that has no body (no
/// Content-Length or Transfer-Encoding, or a length of 0) reaches its operation without one.
final class HubRouteRecorder<Context: RequestContext>: ServerTransport {
    let router: Router<Context>
    private(set) var served: [String: [HTTPRequest.Method]] = [:]

    init(router: Router<Context>) {
        self.router = router
    }

    func register(_ handler: @escaping @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?),
                  method: HTTPRequest.Method, path: String) throws {
        router.register({ request, body, metadata in
            try await handler(request, Self.hasBody(request) ? body : nil, metadata)
        }, method: method, path: path)
        served[path, default: []].append(method)
    }

    static func hasBody(_ request: HTTPRequest) -> Bool {
        if request.headerFields[.transferEncoding] != nil { return true }
        guard let length = request.headerFields[.contentLength] else { return false }
        return length != "0"
    }
}
