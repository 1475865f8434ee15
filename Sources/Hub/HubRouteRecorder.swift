import HTTPTypes
import Hummingbird
import OpenAPIHummingbird
import OpenAPIRuntime

/// Registers the generated operations on the router, and keeps each path's methods as they
/// are added: what `HubMethodNotAllowed` answers 405 with.
final class HubRouteRecorder<Context: RequestContext>: ServerTransport {
    let router: Router<Context>
    private(set) var served: [String: [HTTPRequest.Method]] = [:]

    init(router: Router<Context>) {
        self.router = router
    }

    func register(_ handler: @escaping @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?),
                  method: HTTPRequest.Method, path: String) throws {
        router.register(handler, method: method, path: path)
        served[path, default: []].append(method)
    }
}
