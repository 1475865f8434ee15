import Foundation
import Hummingbird

/// What every answer of the hub says besides its content: not to be cached (leases, status
/// and results change), not to be sniffed as another type, and, for the page, to load nothing.
/// It also writes Content-Range as HTTP spells it: the generated code percent-encodes every
/// header value it sets (OpenAPI's "simple" style), which turns `bytes 4-9/13` into
/// `bytes%204-9%2F13`.
struct HubResponseHeaders: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if let range = response.headers[.contentRange], let spelled = range.removingPercentEncoding {
            response.headers[.contentRange] = spelled
        }
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
        return response
    }
}
