import Foundation

/// One runner's record with the hub, kept across restarts: what its results came to, how far
/// it is trusted to run a replicated job alone, and how many holds it may take today.
///
/// BOINC's host record, in one pure type: a runner's daily quota of holds is halved by each
/// failure and doubled back by each result it delivers (`daily_result_quota`), so a runner
/// whose setup is broken stops eating jobs' attempts within a few holds; a runner with many
/// agreed results in a row may run a job alone (adaptive replication), and any dispute or
/// error sends it back to being checked. A store loads it, applies an outcome or a hold, and
/// saves it in the transaction that caused it.
package struct HubRunnerRecord: Sendable, Equatable {
    package var agreed = 0
    package var disputed = 0
    package var errors = 0
    /// Replicated results in a row that agreed with the majority.
    package var agreedInARow = 0
    /// Failures not yet made good: the quota is the hub's daily quota halved this many times.
    package var quotaHalvings = 0
    /// The UTC day (days since 1970) `holdsToday` counts.
    package var day = 0
    package var holdsOnDay = 0

    /// Beyond this the quota is 1 anyway.
    static let maxHalvings = 40

    package init() {}

    package static func day(of date: Date) -> Int {
        Int((date.timeIntervalSince1970 / 86_400).rounded(.down))
    }

    /// Its quota of holds per day under a hub whose full quota is `daily`: never below 1.
    package func quota(daily: Int) -> Int {
        max(1, quotaHalvings >= Self.maxHalvings ? 1 : daily >> quotaHalvings)
    }

    /// Holds it took on `now`'s day.
    package func holds(on now: Date) -> Int {
        day == Self.day(of: now) ? holdsOnDay : 0
    }

    /// Whether it may take another hold on `now`'s day.
    package func mayHold(at now: Date, daily: Int) -> Bool {
        holds(on: now) < quota(daily: daily)
    }

    /// It took a hold.
    package mutating func held(at now: Date) {
        holdsOnDay = holds(on: now) + 1
        day = Self.day(of: now)
    }

    /// Why it gets no hold now; nil when it may take one.
    package func refusal(at now: Date, daily: Int) -> String? {
        guard !mayHold(at: now, daily: daily) else { return nil }
        let quota = quota(daily: daily)
        let why = quotaHalvings > 0 ? "halved \(quotaHalvings) time(s) from \(daily) by failures" : "the hub's --daily-quota"
        return "this runner took its daily quota of \(quota) hold(s) (\(why)); it gets more after 00:00 UTC, and each result it delivers doubles the quota back"
    }

    /// What one of its holds came to.
    package mutating func apply(_ outcome: HubOutcomes.Outcome) {
        switch outcome {
        case .agreed:
            agreed += 1
            agreedInARow += 1
        case .disputed:
            disputed += 1
            agreedInARow = 0
        case .error:
            errors += 1
            agreedInARow = 0
            quotaHalvings = min(quotaHalvings + 1, Self.maxHalvings)
        case .delivered:
            quotaHalvings = max(quotaHalvings - 1, 0)
        }
    }

    /// Whether it runs a replicated job alone under `--adaptive K` (`after`): with K or more
    /// agreed in a row, with probability 1 − 1/K; `draw` is uniform in [0, 1).
    package func runsAlone(after k: Int, draw: Double) -> Bool {
        k >= 1 && agreedInARow >= k && draw < 1 - 1 / Double(k)
    }
}
