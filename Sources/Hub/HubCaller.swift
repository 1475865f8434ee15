/// The token that authenticated the call being handled. `HubAuthentication` binds it around the
/// generated handler, whose operations get no request context of their own.
enum HubCaller {
    @TaskLocal static var token: HubToken?

    /// The caller's token. An operation that needs one always has one (`HubAccess`); any other
    /// asking is a wiring mistake, answered as a call without a token.
    static func current() throws -> HubToken {
        guard let token else { throw HubHTTPError(.unauthorized, "this call needs a token: Authorization: Bearer TOKEN") }
        return token
    }
}
