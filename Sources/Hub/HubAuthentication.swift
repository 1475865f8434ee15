import Hummingbird

/// Authenticates every call of a route group before its handler runs: a bearer token that a
/// live token of the tokens file has (401 otherwise), of `role` when the group needs one (403
/// otherwise). The token goes into the context for the handler.
struct HubAuthentication: RouterMiddleware {
    typealias Context = HubRequestContext

    let authenticator: HubAuthenticator
    /// The role the group's routes need; nil: any token.
    let role: HubRole?
    /// Told of every runner that calls (the page shows when each was last seen).
    let sawRunner: @Sendable (String) -> Void

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch authenticator.authenticate(authorization: request.headers[.authorization]) {
        case .missing:
            throw HubHTTPError(.unauthorized, "this call needs a token: Authorization: Bearer TOKEN")
        case .refused:
            throw HubHTTPError(.unauthorized, "the token is unknown or was revoked")
        case .token(let token):
            if let role, token.role != role {
                throw HubHTTPError(.forbidden, "a \(token.role.rawValue) token may not do this; it needs a \(role.rawValue) token")
            }
            if token.role == .runner { sawRunner(token.name) }
            var context = context
            context.token = token
            return try await next(request, context)
        }
    }
}
