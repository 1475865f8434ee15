import Foundation
import JobModel

/// `LEASES/ID/lease.json`: a job the hub took from its queue, and who holds it now.
///
/// A lease belongs to its holder (a runner token's name) until `expires`; heartbeats move
/// `expires` on. A lease that runs out waits, with its attempt counted, to be handed to the next
/// runner that asks (before any queued job: it has waited longest).
public struct HubLease: Codable, Sendable, Equatable {
    /// The lease directory's name; also the job's id in the API.
    public var id: String
    /// The job's file name in the queue (`NAME_iN.tar.xz`).
    public var job: String
    /// The runner token holding it; nil while it waits for the next runner.
    public var holder: String?
    /// How many times it was handed out, this one included (0 while it never was).
    public var attempt: Int
    /// When the job file arrived in the queue (its mtime).
    public var queued: Date
    public var claimed: Date?
    public var expires: Date?
    /// The job file's sha256 and size, which a runner checks its download against.
    public var sha256: String
    public var size: Int64
    /// Set once its holder's result is being taken in: from then on it is neither handed out
    /// nor expired. A hub that stops halfway finds it set at start (`HubLeases.recover`).
    public var finishing: Bool?

    public init(id: String, job: String, holder: String?, attempt: Int, queued: Date, claimed: Date?, expires: Date?,
                sha256: String, size: Int64) {
        self.id = id
        self.job = job
        self.holder = holder
        self.attempt = attempt
        self.queued = queued
        self.claimed = claimed
        self.expires = expires
        self.sha256 = sha256
        self.size = size
    }

    /// Whether `holder` holds it at `now`.
    public func isHeld(by holder: String, at now: Date) -> Bool {
        self.holder == holder && finishing != true && (expires.map { $0 > now } ?? false)
    }

    /// Whether it waits for the next runner.
    func isWaiting(maxAttempts: Int) -> Bool {
        holder == nil && finishing != true && attempt < maxAttempts
    }

    public func encoded() throws -> Data {
        try JobResult.jsonEncoder().encode(self)
    }

    public static func decode(_ data: Data) throws -> HubLease {
        try JobResult.jsonDecoder().decode(HubLease.self, from: data)
    }
}
