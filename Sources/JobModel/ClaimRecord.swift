import ConstruirSystem
import Foundation

/// `running/ID/claim.json`: who runs a job, so that `construir status` can show it and a
/// restarted runner (on this host or another sharing the queue) can tell a live claim from an
/// orphan.
package struct ClaimRecord: Codable, Sendable, Equatable {
    /// The running directory's name when this record was written. A directory whose name
    /// differs is being taken over by another runner (renamed, record not yet rewritten).
    package var id: String
    /// The job's file name in the queue.
    package var job: String
    /// The runner's identity (`HOST.N`); its lock file is `STATE/runners/HOST.N.lock`.
    package var runner: String
    package var host: String
    package var pid: Int32
    package var slot: Int
    package var claimed: Date
    package var queued: Date
    package var attempt: Int

    package init(id: String, job: String, runner: String, host: String, pid: Int32, slot: Int, claimed: Date, queued: Date,
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
    package func encoded() throws -> Data {
        try JobResult.jsonEncoder().encode(self)
    }

    package static func decode(_ data: Data) throws -> ClaimRecord {
        try JobResult.jsonDecoder().decode(ClaimRecord.self, from: data)
    }
}
