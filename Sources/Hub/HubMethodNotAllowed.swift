import HTTPTypes
import Hummingbird

/// Answers 405 with `Allow` for a path the hub serves with other methods, where the router
/// alone would say 404. Added to the router after its routes, so that it sees only the
/// requests no route matched.
struct HubMethodNotAllowed: RouterMiddleware {
    typealias Context = BasicRequestContext

    /// Each served path template (`{name}` matches one segment) and its methods.
    let routes: [(template: [Substring], methods: [HTTPRequest.Method])]

    init(_ routes: [String: [HTTPRequest.Method]]) {
        self.routes = routes.map { ($0.key.split(separator: "/"), $0.value) }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let segments = request.uri.path.split(separator: "/")
            let allowed = routes.filter { Self.matches($0.template, segments) }.flatMap(\.methods)
            guard !allowed.isEmpty else { throw error }
            let allow = Set(allowed.map(\.rawValue)).sorted().joined(separator: ", ")
            throw HubHTTPError(.methodNotAllowed, "\(request.method.rawValue) is not served here; use \(allow)", allow: allow)
        }
    }

    static func matches(_ template: [Substring], _ segments: [Substring]) -> Bool {
        template.count == segments.count && zip(template, segments).allSatisfy { pattern, segment in
            (pattern.hasPrefix("{") && pattern.hasSuffix("}")) || pattern == segment
        }
    }
}
