import Foundation
import JobModel

/// Which jobs a listing asks for, newest first (by the time they were queued, then id), a page
/// at a time: `after` is the last job of the page before.
public struct HubJobQuery: Sendable, Equatable {
    /// Only jobs in these states; nil: any.
    public var states: Set<HubJob.State>?
    public var status: JobResult.Status?
    /// Only jobs whose file name starts with this (exactly: no pattern characters).
    public var namePrefix: String?
    /// Only this submitter's jobs; nil: anyone's, those dropped into the queue included.
    public var submitter: String?
    public var after: Position?
    public var limit: Int

    /// Where a page ended.
    public struct Position: Sendable, Equatable {
        public var queued: Date
        public var id: String

        public init(queued: Date, id: String) {
            self.queued = queued
            self.id = id
        }

        public init(_ job: HubJob) {
            self.init(queued: job.queued, id: job.id)
        }
    }

    public init(states: Set<HubJob.State>? = nil, status: JobResult.Status? = nil, namePrefix: String? = nil,
                submitter: String? = nil, after: Position? = nil, limit: Int = 50) {
        self.states = states
        self.status = status
        self.namePrefix = namePrefix
        self.submitter = submitter
        self.after = after
        self.limit = limit
    }
}
