import ConstruirSystem
import Foundation
import JobModel
import Synchronization

/// Finished jobs done/ did not take (full, or failing), left in running/ and retried with
/// backoff while the runner runs: a full disk is usually freed by someone, and a restart must
/// not be the only way out. Times are passed in, so tests need no clock.
package final class PendingPublishes: Sendable {
    package struct Entry: Sendable {
        package let job: ClaimedJob
        /// The committed result; nil when it is read back from result.json at publish time.
        package var result: JobResult?
        package var failures: Int
        package var firstFailure: Date
        package var lastError: String
        package var nextAttempt: ContinuousClock.Instant
        /// The same moment on the wall clock, for the record `status` shows.
        package var nextAttemptDate: Date
    }

    package let initialDelay: Duration
    package let maxDelay: Duration
    private let entries = Mutex<[String: Entry]>([:])

    package init(initialDelay: Duration = .seconds(5), maxDelay: Duration = .seconds(300)) {
        self.initialDelay = initialDelay
        self.maxDelay = max(initialDelay, maxDelay)
    }

    /// The wait after `failures` failed attempts in a row: `initialDelay` doubled each time,
    /// at most `maxDelay`.
    package func delay(afterFailures failures: Int) -> Duration {
        var delay = initialDelay
        for _ in 1..<max(failures, 1) {
            delay = delay * 2
            if delay >= maxDelay { return maxDelay }
        }
        return delay
    }

    /// Records a failed attempt of `job` and returns its entry with the next attempt set.
    @discardableResult
    package func failed(_ job: ClaimedJob, result: JobResult?, error: String,
                       at now: ContinuousClock.Instant, date: Date = Date()) -> Entry {
        entries.withLock { entries in
            var entry = entries[job.id] ?? Entry(job: job, result: result, failures: 0, firstFailure: date, lastError: error,
                                                 nextAttempt: now, nextAttemptDate: date)
            entry.result = result ?? entry.result
            entry.failures += 1
            entry.lastError = error
            let delay = self.delay(afterFailures: entry.failures)
            entry.nextAttempt = now.advanced(by: delay)
            entry.nextAttemptDate = date.addingTimeInterval(delay.seconds)
            entries[job.id] = entry
            return entry
        }
    }

    /// Forgets a job once it is in done/.
    package func succeeded(_ id: String) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }

    /// The jobs whose next attempt has come, earliest first.
    package func due(at now: ContinuousClock.Instant) -> [Entry] {
        entries.withLock { entries in
            entries.values.filter { $0.nextAttempt <= now }.sorted { $0.nextAttempt < $1.nextAttempt }
        }
    }

    package var count: Int { entries.withLock { $0.count } }
    package var isEmpty: Bool { count == 0 }
}

extension JobPublisher {
    /// Writes (or updates) the job's `unpublished.json` after a failed attempt.
    package static func recordFailure(_ entry: PendingPublishes.Entry) {
        let record = PublishFailure(error: entry.lastError, failures: entry.failures, firstFailure: entry.firstFailure,
                                    nextAttempt: entry.nextAttemptDate)
        if let data = try? record.encoded() {
            try? FileSystem.writeDurably(data, to: "\(entry.job.directory)/\(DoneStore.failureRecord)")
        }
    }
}
