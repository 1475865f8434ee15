import Hummingbird

/// A hub request's context: Hummingbird's own, and the token `HubAuthentication` proved.
public struct HubRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `HubAuthentication` on every `/api/v1/` route; nil on the page and /metrics.
    public var token: HubToken?

    public init(source: Source) {
        coreContext = .init(source: source)
        token = nil
    }

    /// The caller's token. A route behind `HubAuthentication` always has one; any other asking
    /// is a wiring mistake, answered as a call without a token.
    public func caller() throws -> HubToken {
        guard let token else { throw HubHTTPError(.unauthorized, "this call needs a token: Authorization: Bearer TOKEN") }
        return token
    }
}
