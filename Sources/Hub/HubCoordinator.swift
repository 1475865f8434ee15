import ConstruirSystem
import Foundation
import HubAPI
import HubStore
import JobModel
import Logging
import Synchronization

/// The one place a change to the hub's state happens, for the routes and for maintenance
/// alike: it applies a transition through the store, then its side effects (the runners'
/// counters, waking long polls, taking results in and publishing to done/).
package final class HubCoordinator: Sendable {
    package let store: any HubStore
    package let blobs: HubBlobs
    package let intake: HubResultIntake
    package let rules: HubRules
    package let terms: HubJobTerms
    /// Whether this hub is the store's only user (SQLite): then whatever a stopped hub left
    /// halfway is its own to settle at start. Hubs sharing a store settle only what stayed
    /// halfway longer than `finishTimeout`, since another hub may be finishing it now.
    package let exclusive: Bool
    /// How long taking a result in, or finishing a job, may take before another hub (or this
    /// one, later) takes it as abandoned by a hub that died (`hub serve --finish-timeout`).
    package let finishTimeout: Duration
    /// The inbox: job files renamed into it become jobs.
    package let queueDirectory: String
    package let runners = HubRunners()
    package let waiters = HubWaiters()
    let blocking = HubBlocking()
    let logger: Logger
    /// One inbox pass at a time, from the rename to the store's commit: a claim that finds the
    /// store empty waits for a pass in flight instead of missing its job.
    private let inbox = AsyncLock()
    /// The queue directory's mtime when an inbox pass last found nothing to take.
    private let emptyQueueSeen = Mutex<TimeInterval?>(nil)

    package init(store: any HubStore, blobs: HubBlobs, intake: HubResultIntake, rules: HubRules, terms: HubJobTerms,
                queueDirectory: String, exclusive: Bool = true, finishTimeout: Duration = .seconds(600), logger: Logger) {
        self.store = store
        self.exclusive = exclusive
        self.finishTimeout = finishTimeout
        self.blobs = blobs
        self.intake = intake
        self.rules = rules
        self.terms = terms
        self.queueDirectory = queueDirectory
        self.logger = logger
    }

    // MARK: Runners

    /// Hands `runner` its next job. When the store has none for it, job files that arrived in
    /// the queue since the inbox last looked are taken in first: a file renamed into the queue
    /// is a job from that moment, not from the next inotify event.
    package func claim(for runner: String, accepting: @escaping @Sendable (HubOffer) -> Bool, now: Date = Date()) async throws -> HubHold? {
        try await claimOrRefusal(for: runner, accepting: accepting, now: now).hold
    }

    /// `claim`, or why `runner` gets no job for now (its daily quota); both nil: no job waits.
    package func claimOrRefusal(for runner: String, accepting: @escaping @Sendable (HubOffer) -> Bool,
                                now: Date = Date()) async throws -> (hold: HubHold?, refusal: String?) {
        var held = try await store.claim(for: runner, rules: rules, now: now, accepting: accepting)
        if held == nil {
            // Also after a pass that took nothing: the pass it waited for may have added the job.
            try await takeQueuedFiles(ifChanged: true)
            held = try await store.claim(for: runner, rules: rules, now: now, accepting: accepting)
        }
        guard let held else { return (nil, try await refusal(for: runner, now: now)) }
        runners.started(held.id, by: runner)
        return (held, nil)
    }

    /// Why `runner` may take no hold now (`HubRunnerRecord.refusal`); nil when it may.
    private func refusal(for runner: String, now: Date) async throws -> String? {
        try await store.runnerRecord(runner).refusal(at: now, daily: rules.dailyQuota)
    }

    /// Whether a claim by `runner` now would get a job. A runner at its quota has none: its
    /// long poll waits out its time instead of waking it for a claim it would be refused.
    package func hasWork(for runner: String, accepting: @escaping @Sendable (HubOffer) -> Bool) async throws -> Bool {
        if try await refusal(for: runner, now: Date()) != nil { return false }
        if try await store.hasWork(for: runner, rules: rules, now: Date(), accepting: accepting) { return true }
        try await takeQueuedFiles(ifChanged: true)
        return try await store.hasWork(for: runner, rules: rules, now: Date(), accepting: accepting)
    }

    /// `runner`'s live hold on job `id`, for its downloads and uploads.
    package func held(_ id: String, by runner: String, now: Date = Date()) async throws -> HubHold {
        guard let job = try await store.job(id), let hold = job.hold(of: runner, at: now) else { throw HubNotHeld(id: id) }
        return HubHold(job: job, hold: hold)
    }

    /// Moves `runner`'s hold on; the job it returns says whether its submitter asked to stop it.
    package func heartbeat(_ id: String, by runner: String, now: Date = Date()) async throws -> HubHold {
        let duration = rules.leaseDuration
        let hold = try await store.update(id) { job, _ in HubHold(job: job, hold: try job.heartbeat(holder: runner, now: now, duration: duration)) }
        runners.started(id, by: runner)  // after a hub restart, this is how it learns who runs what
        return hold
    }

    package func release(_ id: String, by runner: String, now: Date = Date()) async throws {
        try await store.update(id) { job, _ in try job.release(holder: runner, now: now) }
        runners.ended(id, by: runner, delivered: false)
        waiters.notify()
        try await endStopped(id)
    }

    /// `runner` sent more than the job allows: its hold fails, and the job goes to another
    /// runner (or ends in error after `--max-attempts` failures).
    package func refuseUpload(_ id: String, by runner: String, reason: String) async throws {
        let held = try await store.update(id) { job, _ in HubHold(job: job, hold: try job.beginFinishing(holder: runner, now: Date())) }
        try await intake.fail(held, error: reason)
        runners.ended(id, by: runner, delivered: false)
        waiters.notify()
        try await endStopped(id)
        try await endExhausted(id)
    }

    package func finish(_ id: String, by runner: String, reported: JobResult) async throws -> HubResultIntake.Outcome {
        let outcome = try await intake.finish(id: id, holder: runner, reported: reported)
        runners.ended(id, by: runner, delivered: outcome.refusal == nil)
        if outcome.finishedJob { runners.finished() }
        waiters.notify()  // a failed replica, or one more wanted, is work for another runner
        if outcome.refusal != nil || outcome.receipt.status == .error {
            try await endStopped(id)
            try await endExhausted(id)
        }
        return outcome
    }

    // MARK: Submitters and the inbox

    /// Whether a job of this name waits for its first runner (a second submission is refused).
    package func isQueued(name: String) async throws -> Bool {
        try await store.isQueued(name: name)
    }

    /// Makes a checked upload in `blobs` a job of `submitter`.
    package func accept(upload id: String, name: JobName, submitter: String) async throws -> HubJob {
        let terms = self.terms
        let job = try await blocking.run { [blobs] in try blobs.accept(upload: id, name: name, submitter: submitter, terms: terms) }
        try await store.add([job])
        waiters.notify()
        return job
    }

    /// Takes every job file in the queue directory in, in batches; returns how many. With
    /// `ifChanged` (a claim or long poll that found nothing), only when the queue directory
    /// changed since a pass last found it empty: a runner at its cap, or many runners polling
    /// an empty hub, cost a `stat`, not a listing each. (The watcher's passes look always.)
    @discardableResult
    package func takeQueuedFiles(ifChanged: Bool = false) async throws -> Int {
        try await inbox.withLock {
            let queue = queueDirectory
            let changed = try await blocking.run { FileSystem.modificationTime(of: queue) }
            if ifChanged, emptyQueueSeen.withLock({ $0 }) == changed { return 0 }
            let taken = try await takeQueuedFilesNow()
            if taken == 0 { emptyQueueSeen.withLock { $0 = changed } }
            return taken
        }
    }

    /// One pass: the queue is listed once, and its files are taken in 256 to a commit. Files
    /// that arrive meanwhile wake the next pass.
    private func takeQueuedFilesNow() async throws -> Int {
        let (queue, terms) = (queueDirectory, terms)
        let pending = try await blocking.run { [blobs] in blobs.pending(in: queue) }
        var total = 0
        for start in stride(from: 0, to: pending.count, by: 256) {
            let batch = pending[start..<min(start + 256, pending.count)]
            let (taken, refused) = try await blocking.run { [blobs] in try blobs.take(batch, from: queue, terms: terms) }
            guard !taken.isEmpty else { continue }
            try await store.add(taken)
            // Added first, so that the job is in the store, and its submitter sees why, when it ends.
            for (id, refusal) in refused.sorted(by: { $0.key < $1.key }) {
                _ = try await intake.finishUnrun(id: id, status: .rejected, error: refusal)
                logger.notice("job refused", metadata: ["job": "\(id)", "reason": "\(refusal)"])
            }
            total += taken.count
            waiters.notify()
        }
        return total
    }

    // MARK: Maintenance

    /// Ends holds that ran out (each a failure of its runner), then ends in error the jobs that
    /// failed `--max-attempts` times.
    package func expire(now: Date = Date()) async throws {
        let expired = try await store.expire(now: now)
        for held in expired {
            runners.ended(held.id, by: held.holder, delivered: false)
            let why = held.job.reachedLimit(held.hold) ? "lease reached the job's limit" : "lease ran out"
            logger.notice("\(why): the job goes to the next runner", metadata: [
                "job": "\(held.fileName)", "lease": "\(held.id)", "runner": "\(held.holder)", "attempt": "\(held.attempt)"])
        }
        if !expired.isEmpty { waiters.notify() }
        for job in expired.map(\.job) {
            if job.isStoppedUnheld {
                try await endStopped(job.id)
            } else if job.isExhausted(maxAttempts: rules.maxAttempts) {
                try await endExhausted(job.id)
            }
        }
    }

    /// Its submitter stops job `id`: a job no runner holds ends `killed` now; a held one once
    /// its runner, told in its next heartbeat's answer, sends what it has, or once its lease
    /// runs out. Returns the job as it is then, or nil when it had ended already.
    package func stop(_ id: String, now: Date = Date()) async throws -> HubJob? {
        let (stop, job) = try await store.update(id) { job, _ in (job.requestStop(now: now), job) }
        switch stop {
        case .tooLate:
            return nil
        case .asked:
            logger.notice("job stop asked; its runners learn it in their next heartbeat", metadata: ["job": "\(job.job)", "lease": "\(id)"])
            waiters.notify()
            return job
        case .endsNow:
            try await endStopped(id)
            return try await store.job(id)
        }
    }

    /// Ends a stopped job that no runner holds any more: with the result a replica already
    /// sent, if one did, else as `killed` without one.
    func endStopped(_ id: String) async throws {
        guard let job = try await store.job(id), job.isStoppedUnheld else { return }
        let receipt: HubReceipt
        if job.isComplete {
            let finishing = try await store.update(id) { job, _ in
                try job.beginFinishingJob(now: Date())
                return job
            }
            receipt = try await intake.complete(finishing)
        } else {
            receipt = try await intake.finishUnrun(id: id, status: .killed, error: "stopped by its submitter before a runner finished it")
        }
        runners.finished()
        logger.notice("stopped job ended", metadata: ["job": "\(job.job)", "done": "\(receipt.location)"])
    }

    private func endExhausted(_ id: String) async throws {
        guard let job = try await store.job(id), job.isExhausted(maxAttempts: rules.maxAttempts) else { return }
        let error = "\(job.failures) runner(s) failed it (last: \(job.lastFailure ?? "unknown")); not handed out again (--max-attempts \(rules.maxAttempts))"
        let receipt = try await intake.finishAsError(id: id, error: error)
        runners.finished()
        logger.error("job ended in error: \(error)", metadata: ["job": "\(job.job)", "done": "\(receipt.location)"])
    }

    /// Moves finished jobs that done/ could not take yet.
    package func publishWaiting() async {
        for job in (try? await store.unpublished()) ?? [] {
            do {
                let receipt = try await intake.publish(job)
                if !receipt.location.hasPrefix("(") { logger.info("moved a finished job to done/", metadata: ["done": "\(receipt.location)"]) }
            } catch {
                logger.error("cannot move a finished job to done/ yet: \(error)", metadata: ["job": "\(job.id)"])
            }
        }
    }

    /// At start: imports a file-based hub's state, takes back jobs whose commit was lost, gives
    /// held leases one more lease length, settles results a stopped hub was taking in, and
    /// finishes what it left halfway.
    package func recover(now: Date = Date()) async throws {
        try await store.prepare()
        let imported = try await HubLegacyImport.run(blobs, into: store, blocking: blocking)
        if imported > 0 { logger.notice("imported \(imported) job(s) from the hub's lease files into its database") }
        let staleBefore = exclusive ? now : now.addingTimeInterval(-finishTimeout.seconds)
        try await takeBackStrays(before: staleBefore)
        let renewed = exclusive ? now.addingTimeInterval(rules.leaseDuration.seconds) : nil
        for job in try await store.jobs(in: [.held, .finishing]) {
            await settle(job.id, staleBefore: staleBefore, renewingUntil: renewed)
        }
        for job in try await store.jobs(in: [.held]) where job.isExhausted(maxAttempts: rules.maxAttempts) {
            try await endExhausted(job.id)
        }
        await publishWaiting()
    }

    /// Takes back jobs a hub moved into its directory but stopped before recording, once their
    /// note is older than `before`.
    package func takeBackStrays(before: Date) async throws {
        let entries = try await blocking.run { [blobs] in blobs.entries() }
        let known = try await store.known(entries)
        let unknown = entries.filter { !known.contains($0) }
        guard !unknown.isEmpty else { return }
        let terms = self.terms
        let strays = try await blocking.run { [blobs] in blobs.strays(unknown, before: before, terms: terms) }
        try await store.add(strays)
        if !strays.isEmpty {
            logger.notice("took back \(strays.count) job(s) a stopped hub had moved but not recorded")
            waiters.notify()
        }
    }

    /// Settles results and finishes left halfway for longer than `finishTimeout`, by a hub that
    /// died while others go on (several hubs on one store); maintenance calls it now and then.
    package func settleStale(now: Date = Date()) async {
        let staleBefore = now.addingTimeInterval(-finishTimeout.seconds)
        if !exclusive {
            do {
                try await takeBackStrays(before: staleBefore)
            } catch {
                logger.error("cannot take back jobs a stopped hub left: \(error)")
            }
        }
        for id in (try? await store.staleFinishing(before: staleBefore)) ?? [] {
            await settle(id, staleBefore: staleBefore, renewingUntil: nil)
        }
    }

    /// `HubJob.settle` for job `id`, with the files it needs read first, and the finish it
    /// asks for done.
    private func settle(_ id: String, staleBefore: Date, renewingUntil: Date?) async {
        do {
            guard let job = try await store.job(id) else { return }
            let resultFile = "\(blobs.path(id))/\(JobFiles.result)"
            if job.state == .finishing, let since = job.finishingSince, since <= staleBefore,
               let written = try await blocking.run({ JobPublisher.readResult(resultFile) }) {
                try await store.update(id) { job, _ in if job.state == .finishing { job.end(status: written.status, now: Date()) } }
                return
            }
            var kept: [Int: HubJob.Replica] = [:]
            for hold in job.holds where hold.finishing.map({ $0 <= staleBefore }) == true {
                kept[hold.serial] = try await blocking.run { [intake] in intake.keptReplica(hold, of: id) }
            }
            let replicas = kept
            let (settled, finish) = try await store.update(id) { job, _ in
                let finish = job.settle(staleBefore: staleBefore, renewingUntil: renewingUntil, keptReplica: { replicas[$0.serial] })
                return (job, finish)
            }
            if settled.holds.count < job.holds.count { waiters.notify() }
            if finish {
                let receipt = try await intake.complete(settled)
                runners.finished()
                logger.notice("finished a job a stopped hub left halfway", metadata: ["done": "\(receipt.location)"])
            }
        } catch {
            logger.error("cannot settle what a stopped hub left of a job: \(error)", metadata: ["job": "\(id)"])
        }
    }

    // MARK: Status

    package func status() async throws -> HubStatus {
        let active = try await store.jobs(in: [.held, .finishing])
        let rows: [HubStatus.Lease] = active.flatMap { job in
            let held = job.holds.map {
                HubStatus.Lease(id: job.id, job: job.job, holder: $0.holder, attempt: $0.attempt, expires: $0.expires,
                                replicas: job.replicas, results: job.results.count)
            }
            return held + Array(repeating: HubStatus.Lease(id: job.id, job: job.job, holder: nil, attempt: job.failures + 1, expires: nil,
                                                           replicas: job.replicas, results: job.results.count), count: job.openPlaces)
        }
        let now = Date(), daily = rules.dailyQuota
        let records = try await store.runnerRecords().mapValues {
            HubStatus.Reputation(agreed: $0.agreed, disputed: $0.disputed, errors: $0.errors, agreedInARow: $0.agreedInARow,
                                 quota: $0.quota(daily: daily), holdsToday: $0.holds(on: now))
        }
        let recent = runners.recentTags(now: now)
        let unservable = try await store.list(HubJobQuery(states: [.queued], limit: 500)).filter { job in
            !job.tags.isEmpty && !recent.contains { Set(job.tags).isSubset(of: $0) }
        }.map { HubStatus.UnservablePayloadPayload(job: $0.job, tags: $0.tags) }
        return HubStatus(queued: try await store.queuedCount(), runners: runners.snapshot(reputation: records),
                         leases: rows, finished: runners.finishedJobs, unservable: unservable.isEmpty ? nil : unservable)
    }
}
