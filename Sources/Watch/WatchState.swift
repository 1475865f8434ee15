import Foundation

/// What `watch` knows of one repository, kept in `STATE/repos/KEY.json` (`WatchStateFile`):
/// which commits it queued, how far each watched ref is handled, what it is doing right now
/// (`intents`), and which reports are still owed.
///
/// The exactly-once rules live here, free of git and files, so they can be tested as such:
/// a commit is queued at most once per repository (`queued` is keyed by commit, not by ref);
/// a ref's recorded tip moves only after every commit up to it was handled; and an intent is
/// written before its job file leaves `STATE/outgoing`, so a restart finishes it (`recovery`).
package struct WatchState: Codable, Sendable, Equatable {
    package var url: String
    /// False until the first poll that saw the repository handled its refs; that poll builds
    /// only each ref's newest commit.
    package var initialized = false
    /// Each watched ref's handled tip: every commit up to it was queued or skipped.
    package var refs: [String: String] = [:]
    /// Every commit queued, by hash.
    package var queued: [String: QueuedCommit] = [:]
    /// Commits packaged into `STATE/outgoing` whose jobs may not all have reached the queue yet.
    package var intents: [Intent] = []
    /// Reports not yet delivered (or given up on).
    package var reports: [ReportTask] = []
    package var health = Health()

    package init(url: String) {
        self.url = url
    }

    package struct QueuedCommit: Codable, Sendable, Equatable {
        /// The ref it was first seen on (its BRANCH or TAG).
        package var ref: String
        /// The job files' names.
        package var jobs: [String]
        package var queued: Date
    }

    package struct Intent: Codable, Sendable, Equatable {
        package var commit: String
        package var ref: String
        /// The job files' names, in `STATE/outgoing` until each is in the queue (or on the hub).
        package var jobs: [String]
        /// With a hub: the id each job got, once its submission is known.
        package var hubIDs: [String: String] = [:]
    }

    /// How the last polls went, for the log and `watch --status`.
    package struct Health: Codable, Sendable, Equatable {
        package var lastPoll: Date?
        package var lastSuccess: Date?
        /// Polls failed in a row (0: the last one worked).
        package var failures = 0
        package var lastError: String?
        package var nextPoll: Date?
    }

    /// A watched ref whose remote tip is not its recorded one.
    package struct Move: Sendable, Equatable {
        package var ref: String
        package var old: String?
        package var new: String

        package init(ref: String, old: String?, new: String) {
            self.ref = ref
            self.old = old
            self.new = new
        }
    }

    /// The watched refs that moved, given the remote's `ref → commit` (tags peeled), in ref order.
    package func moves(remote: [String: String], watches: (String) -> Bool) -> [Move] {
        remote.keys.sorted().compactMap { ref in
            guard watches(ref), let new = remote[ref], refs[ref] != new else { return nil }
            return Move(ref: ref, old: refs[ref], new: new)
        }
    }

    /// Which of a moved ref's commits to consider: on the first poll of the repository, or for
    /// a ref not seen before (a new branch or tag, or one the repos file now matches), only
    /// its tip; else `between` (the commits in old..new, oldest first). Commits queued before
    /// (on another ref, or before a restart) are left out.
    package func candidates(for move: Move, between: [String]) -> [String] {
        let commits = (!initialized || move.old == nil) ? [move.new] : between
        return commits.filter { queued[$0] == nil }
    }

    /// Records that `commit`'s jobs are about to leave `STATE/outgoing`.
    package mutating func intend(_ commit: String, ref: String, jobs: [String]) {
        intents.removeAll { $0.commit == commit }
        intents.append(Intent(commit: commit, ref: ref, jobs: jobs))
    }

    /// Records `commit` as queued and owes its reports; ends its intent.
    package mutating func recordQueued(_ commit: String, ref: String, jobs: [String], at date: Date, reporting: Bool) {
        let intent = intents.first { $0.commit == commit }
        intents.removeAll { $0.commit == commit }
        queued[commit] = QueuedCommit(ref: ref, jobs: jobs, queued: date)
        guard reporting else { return }
        for job in jobs where !reports.contains(where: { $0.job == job }) {
            reports.append(ReportTask(job: job, commit: commit, ref: ref, hubID: intent?.hubIDs[job]))
        }
    }

    /// A ref is handled up to `tip`.
    package mutating func advance(_ ref: String, to tip: String) {
        refs[ref] = tip
    }

    package mutating func recordFailure(_ message: String, at date: Date, next: Date) {
        health.lastPoll = date
        health.failures += 1
        health.lastError = message
        health.nextPoll = next
    }

    package mutating func recordSuccess(at date: Date, next: Date) {
        initialized = true
        health.lastPoll = date
        health.lastSuccess = date
        health.failures = 0
        health.lastError = nil
        health.nextPoll = next
    }

    /// How long to wait after `failures` failed attempts in a row: `base`, doubled for each
    /// further failure, at most `cap` (an unreachable forge or repository is not hammered).
    package static func backoff(failures: Int, base: Duration, cap: Duration) -> Duration {
        guard failures > 0 else { return base }
        let factor = 1 << min(failures - 1, 20)
        return min(base * factor, cap)
    }
}

extension WatchState {
    /// Changes the report owed for `job`, and forgets it once nothing more is owed.
    package mutating func changeReport(_ job: String, _ change: (inout ReportTask) -> Void) {
        guard let index = reports.firstIndex(where: { $0.job == job }) else { return }
        change(&reports[index])
        if reports[index].isFinished { reports.remove(at: index) }
    }
}
