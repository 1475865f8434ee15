import Foundation

/// The answer to a heartbeat: the lease's new end.
public struct HubHeartbeatReply: Codable, Sendable, Equatable {
    public var expires: Date
    public var leaseSeconds: Double

    public init(expires: Date, leaseSeconds: Double) {
        self.expires = expires
        self.leaseSeconds = leaseSeconds
    }
}
