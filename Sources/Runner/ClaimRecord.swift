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

    /// JSON in result.json's conventions (`JobResult.jsonEncoder`).
    public func encoded() throws -> Data {
        try JobResult.jsonEncoder().encode(self)
    }

    public static func decode(_ data: Data) throws -> ClaimRecord {
        try JobResult.jsonDecoder().decode(ClaimRecord.self, from: data)
    }
}
