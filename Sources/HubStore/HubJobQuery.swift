import Foundation
import JobModel

/// Which jobs a listing asks for, newest first (by the time they were queued, then id), a page
/// at a time: `after` is the last job of the page before.
package struct HubJobQuery: Sendable, Equatable {
    /// Only jobs in these states; nil: any.
    package var states: Set<HubJob.State>?
    package var status: JobResult.Status?
    /// Only jobs whose file name starts with this (exactly: no pattern characters).
    package var namePrefix: String?
    /// Only this submitter's jobs; nil: anyone's, those dropped into the queue included.
    package var submitter: String?
    package var after: Position?
    package var limit: Int

    /// Where a page ended.
    package struct Position: Sendable, Equatable {
        package var queued: Date
        package var id: String

        package init(queued: Date, id: String) {
            self.queued = queued
            self.id = id
        }

        package init(_ job: HubJob) {
            self.init(queued: job.queued, id: job.id)
        }
    }

    package init(states: Set<HubJob.State>? = nil, status: JobResult.Status? = nil, namePrefix: String? = nil,
                submitter: String? = nil, after: Position? = nil, limit: Int = 50) {
        self.states = states
        self.status = status
        self.namePrefix = namePrefix
        self.submitter = submitter
        self.after = after
        self.limit = limit
    }
}
