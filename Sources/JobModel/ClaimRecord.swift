import ConstruirSystem
import Foundation

/// `running/ID/claim.json`: who runs a job, so that `construir status` can show it and a
/// restarted runner (on this host or another sharing the queue) can tell a live claim from an
/// orphan.
public struct ClaimRecord: Codable, Sendable, Equatable {
    /// The running directory's name when this record was written. A directory whose name
    /// differs is being taken over by another runner (renamed, record not yet rewritten).
    public var id: String
    /// The job's file name in the queue.
    public var job: String
    /// The runner's identity (`HOST.N`); its lock file is `STATE/runners/HOST.N.lock`.
    public var runner: String
    public var host: String
    public var pid: Int32
    public var slot: Int
    public var claimed: Date
    public var queued: Date
    public var attempt: Int

    public init(id: String, job: String, runner: String, host: String, pid: Int32, slot: Int, claimed: Date, queued: Date,
                attempt: Int) {
        self.id = id
        self.job = job
        self.runner = runner
        self.host = host
        self.pid = pid
        self.slot = slot
        self.claimed = claimed
        self.queued = queued
        self.attempt = attempt
    }

    /// JSON in result.json's conventions (`JobResult.jsonEncoder`).
    public func encoded() throws -> Data {
        try JobResult.jsonEncoder().encode(self)
    }

    public static func decode(_ data: Data) throws -> ClaimRecord {
        try JobResult.jsonDecoder().decode(ClaimRecord.self, from: data)
    }
}
