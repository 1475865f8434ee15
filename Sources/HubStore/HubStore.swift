import Foundation
import HubAPI
import JobModel
import ServiceLifecycle

/// Where the hub keeps its state: jobs (queued, held, finishing, done), each replica's hold and
/// result, who submitted each job, and each runner's record. One seam, two stores: SQLite
/// embedded in one hub (`SQLiteHubStore`), and later a database several hubs share.
///
/// Every change is one transaction: a store loads a job, applies one of `HubJob`'s pure
/// transitions, and saves it together with the reputation counts the transition produced. The
/// job files themselves stay on disk (`HubBlobs`); the store only names them by id. Calls never
/// block the cooperative pool.
package protocol HubStore: Sendable {
    /// What must run beside the hub for the store to work (connections, other hubs' news);
    /// `onChange` wakes long polls when another hub made work. They stop after the hub does.
    func services(onChange: @escaping @Sendable () -> Void) -> [any Service]

    /// Makes the store ready once its services run: creates or updates its tables.
    func prepare() async throws

    /// Adds jobs taken in from the queue or a submitter; an id already there is left as it is.
    func add(_ jobs: [HubJob]) async throws

    func job(_ id: String) async throws -> HubJob?

    /// Applies `change` to job `id` in one transaction, with the reputation counts it adds.
    /// Throws `HubNotHeld` when there is no such job (and whatever `change` throws); then
    /// nothing changes.
    func update<T: Sendable>(_ id: String, _ change: @escaping @Sendable (inout HubJob, inout HubOutcomes) throws -> T) async throws -> T

    /// Hands `holder` the next job it may run: a job that wants another runner first (a hold
    /// ran out, or it needs more replicas), then the oldest queued one. Nil when there is none,
    /// when `holder` already holds `rules.maxLeasesPerRunner`, or when `accepting` refuses every
    /// job. One transaction, reading only the jobs it considers.
    func claim(for holder: String, rules: HubRules, now: Date, accepting: @escaping @Sendable (HubOffer) -> Bool) async throws -> HubHold?

    /// Whether `holder` claiming now would get a job (the long poll asks).
    func hasWork(for holder: String, rules: HubRules, now: Date, accepting: @escaping @Sendable (HubOffer) -> Bool) async throws -> Bool

    /// Ends every hold that ran out by `now` (each a failure, counted against its runner) and
    /// returns them.
    func expire(now: Date) async throws -> [HubHold]

    /// Which of `ids` the store has.
    func known(_ ids: [String]) async throws -> Set<String>

    /// Jobs in `states`, oldest first.
    func jobs(in states: Set<HubJob.State>) async throws -> [HubJob]

    /// Jobs with a result, or a whole finish, in progress since `before` or earlier: a hub
    /// that stopped left them (`HubJob.settle`).
    func staleFinishing(before: Date) async throws -> [String]

    /// Jobs done but not yet in done/ (done/ was full, or the hub stopped first).
    func unpublished() async throws -> [HubJob]

    /// The jobs `query` selects, newest first, at most `query.limit`. Reads only the page.
    func list(_ query: HubJobQuery) async throws -> [HubJob]

    /// Whether a job called `name` (`NAME_iN.tar.xz`) waits for its first runner.
    func isQueued(name: String) async throws -> Bool

    /// How many jobs wait for their first runner.
    func queuedCount() async throws -> Int

    /// How many of `submitter`'s jobs wait for their first runner (`--max-queued-per-submitter`).
    func queuedCount(of submitter: String) async throws -> Int

    /// Events of the outbox whose time came by `now`, oldest first, at most `limit`.
    func dueEvents(now: Date, limit: Int) async throws -> [HubEvent]

    /// Takes an event out of the outbox: it was sent, or given up.
    func removeEvent(_ sequence: Int64) async throws

    /// An event's try failed: it waits until `next`, its attempts counted.
    func postponeEvent(_ sequence: Int64, until next: Date, error: String) async throws

    /// Each runner's record.
    func runnerRecords() async throws -> [String: HubRunnerRecord]

    /// `runner`'s record (a new one when it has none).
    func runnerRecord(_ runner: String) async throws -> HubRunnerRecord

    /// Adds `records` to the runners' records and sets `key`, in one transaction; does nothing
    /// when `key` is set already (an import that must happen once).
    func importReputation(_ records: [String: HubStatus.Reputation], once key: String) async throws
}

/// What a runner's record gains from a transition; stored in the same transaction.
package struct HubOutcomes: Sendable {
    package enum Outcome: String, Sendable {
        /// A replicated job whose result this runner's agreed with (all, or the majority).
        case agreed
        /// A replicated job whose replicas disagreed while this runner took part, or whose
        /// majority outvoted it.
        case disputed
        /// A hold that failed: an error result, a refused output, a lease that ran out.
        case error
        /// A result taken in (any status but error): its quota doubles back.
        case delivered
    }

    package private(set) var counts: [(runner: String, outcome: Outcome)] = []
    /// Jobs that ended in this transition and whose end is announced (`hub serve --webhook`):
    /// each gets an event in the outbox, written with the end itself.
    package private(set) var announced: [String] = []

    /// Puts the end of job `id` in the outbox.
    package mutating func announce(_ id: String) {
        announced.append(id)
    }

    package init() {}

    package mutating func add(_ outcome: Outcome, for runners: [String]) {
        counts += runners.map { ($0, outcome) }
    }
}
