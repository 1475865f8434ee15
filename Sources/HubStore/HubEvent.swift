import Foundation

/// An event in the hub's outbox: the end of a job, to be announced to `--webhook`. It is
/// written in the same transaction as the end, so a hub that stops before sending it sends it
/// after its restart.
package struct HubEvent: Sendable, Equatable {
    package var sequence: Int64
    package var jobID: String
    package var created: Date
    package var attempts: Int

    package init(sequence: Int64, jobID: String, created: Date, attempts: Int) {
        self.sequence = sequence
        self.jobID = jobID
        self.created = created
        self.attempts = attempts
    }
}
