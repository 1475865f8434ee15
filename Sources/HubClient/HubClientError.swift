/// Why a call to the hub failed.
package struct HubClientError: Error, Sendable, CustomStringConvertible {
    package enum Kind: Sendable, Equatable {
        /// No answer: the hub is down or the network is (worth trying again later).
        case unreachable
        /// 401 or 403: the token is wrong, revoked, or of the wrong role.
        case unauthorized
        /// 409: the lease is not (or no longer) this runner's.
        case leaseLost
        /// 413 or 422: the hub refused what was sent, and will not take it later either.
        case refused
        /// Any other answer.
        case failed
    }

    package let kind: Kind
    /// The HTTP status, when there was an answer.
    package let status: Int?
    package let message: String

    package init(_ kind: Kind, status: Int? = nil, _ message: String) {
        self.kind = kind
        self.status = status
        self.message = message
    }

    package var description: String {
        status.map { "the hub answered \($0): \(message)" } ?? message
    }
}
