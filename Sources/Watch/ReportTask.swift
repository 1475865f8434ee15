import Foundation
import JobModel

/// The reports one queued job still owes: `pending` first, then its final status once the job
/// is done. Kept in the repository's state, so a restart still delivers them.
package struct ReportTask: Codable, Sendable, Equatable {
    package var job: String
    package var commit: String
    package var ref: String
    /// With a hub: the job's id there (its page is HUB/jobs/ID).
    package var hubID: String?
    package var pendingDone = false
    /// Set once the job is done: its status and where its result is.
    package var final: Final?
    package var finalDone = false
    /// Failed attempts at the report now due.
    package var attempts = 0
    package var notBefore: Date?

    package struct Final: Codable, Sendable, Equatable {
        package var status: String
        package var link: String?

        package init(status: String, link: String?) {
            self.status = status
            self.link = link
        }
    }

    package init(job: String, commit: String, ref: String, hubID: String? = nil) {
        self.job = job
        self.commit = commit
        self.ref = ref
        self.hubID = hubID
    }

    /// A report to send now: the status (`pending`, or the result's) and the link; nil when
    /// nothing is due (waiting for the job, or for the retry time).
    package func due(at now: Date, pendingLink: String?) -> (status: String, link: String?)? {
        if let notBefore, now < notBefore { return nil }
        if !pendingDone { return ("pending", pendingLink) }
        if let final, !finalDone { return (final.status, final.link) }
        return nil
    }

    /// The report just sent went through.
    package mutating func delivered() {
        if !pendingDone { pendingDone = true } else { finalDone = true }
        attempts = 0
        notBefore = nil
    }

    /// The report just tried failed: try again later, or, after `limit` attempts, give it up
    /// (returns true) and go on to the next one.
    package mutating func failed(at now: Date, limit: Int, base: Duration, cap: Duration) -> Bool {
        attempts += 1
        guard attempts < limit else {
            delivered()
            return true
        }
        notBefore = now.addingTimeInterval(WatchState.backoff(failures: attempts, base: base, cap: cap).seconds)
        return false
    }

    /// Nothing more to send.
    package var isFinished: Bool { pendingDone && finalDone }
}
