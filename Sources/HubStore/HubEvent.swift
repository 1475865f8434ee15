import Foundation

/// An event in the hub's outbox: the end of a job, to be announced to `--webhook`. It is
/// written in the same transaction as the end, so a hub that stops before sending it sends it
/// after its restart.
public struct HubEvent: Sendable, Equatable {
    public var sequence: Int64
    public var jobID: String
    public var created: Date
    public var attempts: Int

    public init(sequence: Int64, jobID: String, created: Date, attempts: Int) {
        self.sequence = sequence
        self.jobID = jobID
        self.created = created
        self.attempts = attempts
    }
}
