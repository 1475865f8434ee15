import HTTPTypes
import OpenAPIRuntime

/// Authenticates every call before its operation runs, as `HubAccess` says the operation
/// needs: a bearer token that a live token of the tokens file has (401 otherwise), of the
/// operation's role (403 otherwise). The token is bound to `HubCaller.token` for the operation.
/// A token that is sent is always checked, even where none is needed.
struct HubAuthentication: ServerMiddleware {
    let authenticator: HubAuthenticator
    /// `--results public`: jobs may be read without a token.
    let publicResults: Bool
    /// Told of every runner that calls (the page shows when each was last seen).
    let sawRunner: @Sendable (String) -> Void

    func intercept(_ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
                   next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?))
        async throws -> (HTTPResponse, HTTPBody?) {
        guard let access = HubAccess.of(operation: operationID) else {
            throw HubHTTPError(.forbidden, "this hub does not serve \(operationID)")
        }
        if access == .open { return try await next(request, body, metadata) }
        switch authenticator.authenticate(authorization: request.headerFields[.authorization]) {
        case .missing where access == .jobReader && publicResults:
            return try await next(request, body, metadata)
        case .missing:
            throw HubHTTPError(.unauthorized, "this call needs a token: Authorization: Bearer TOKEN")
        case .refused:
            throw HubHTTPError(.unauthorized, "the token is unknown or was revoked")
        case .token(let token):
            if case .role(let role) = access, token.role != role {
                throw HubHTTPError(.forbidden, "a \(token.role.rawValue) token may not do this; it needs a \(role.rawValue) token")
            }
            if access == .jobReader, token.role != .submitter {
                throw HubHTTPError(.forbidden, "a \(token.role.rawValue) token reads only the jobs it holds; reading jobs needs a submitter token")
            }
            if token.role == .runner { sawRunner(token.name) }
            return try await HubCaller.$token.withValue(token) { try await next(request, body, metadata) }
        }
    }
}
