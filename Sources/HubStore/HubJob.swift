import Foundation
import JobModel

/// One job the hub took in, and every rule about who may run it: the hub's state type.
///
/// A job is `queued` until its first runner takes it, `held` while it needs or has runners,
/// `finishing` while the hub compares its replicas or ends it in error, and `done` once its
/// result.json is written. It needs `replicas` results from different runners. Each runner
/// running it has a `Hold` until `expires`; heartbeats move `expires` on. A hold that runs
/// out, or ends in `error`, counts as a failure, and its place goes to the next runner that
/// asks, before any queued job: it has waited longest. After `maxAttempts` failures the hub
/// ends the job in error. No hold outlives `leaseLimit` after its claim, whatever the
/// heartbeats say. When every result is in and no strict majority agrees, the job asks for one
/// more replica, up to `maxReplicas` (`verdict`).
///
/// Every transition is a pure function of the job and the time given to it: a `HubStore`
/// loads a job, applies one in a transaction, and saves it. Nothing here touches a disk.
package struct HubJob: Codable, Sendable, Equatable {
    package enum State: String, Codable, Sendable, CaseIterable {
        case queued, held, finishing, done
    }

    /// One runner's part: it holds the job until `expires`.
    package struct Hold: Codable, Sendable, Equatable {
        /// The runner token's name.
        package var holder: String
        /// Numbers the hold's uploads (`.output.upload.SERIAL`): never reused within a job, so an
        /// upload still streaming from a runner whose hold ran out never becomes another's.
        package var serial: Int
        /// 1 + the failures before this hold: what `result.json` calls the attempt.
        package var attempt: Int
        package var claimed: Date
        package var expires: Date
        /// When its result began to be taken in: from then on it neither expires nor takes
        /// another result. A hub that stopped halfway leaves it set (`settle`).
        package var finishing: Date?

        package init(holder: String, serial: Int, attempt: Int, claimed: Date, expires: Date, finishing: Date? = nil) {
            self.holder = holder
            self.serial = serial
            self.attempt = attempt
            self.claimed = claimed
            self.expires = expires
            self.finishing = finishing
        }
    }

    /// What one runner reported, once its output was taken in.
    package struct Replica: Codable, Sendable, Equatable {
        package var runner: String
        package var serial: Int
        package var attempt: Int
        package var status: JobResult.Status
        package var exitCode: Int?
        /// `OutputDigest` of its output archive; nil when it sent none.
        package var outputDigest: String?

        package init(runner: String, serial: Int, attempt: Int, status: JobResult.Status, exitCode: Int?, outputDigest: String?) {
            self.runner = runner
            self.serial = serial
            self.attempt = attempt
            self.status = status
            self.exitCode = exitCode
            self.outputDigest = outputDigest
        }

        /// Whether two runners reported the same thing: status, exit code and output digest.
        package func agrees(with other: Replica) -> Bool {
            status == other.status && exitCode == other.exitCode && outputDigest == other.outputDigest
        }
    }

    /// The job's id in the API, and the name of its blob directory.
    package var id: String
    /// The job's file name (`NAME_iN.tar.xz`).
    package var job: String
    /// The submitter token's name; nil for a file dropped into the queue by hand (the operator's).
    package var submitter: String?
    /// When the job arrived (a queued file's mtime, or the submission).
    package var queued: Date
    /// The job file's sha256 and size, which a runner checks its download against.
    package var sha256: String
    package var size: Int64
    /// How many runners must report a result: the hub's `--replicas`, or the job's own, raised
    /// by one each time the results in form no majority (up to `maxReplicas`), or 1 for a job a
    /// trusted runner runs alone.
    package var replicas: Int
    /// The most replicas the job may grow to before it ends disputed (`--max-replicas`).
    package var maxReplicas: Int
    /// How long after its claim any hold on the job ends: the job's timeout plus the hub's
    /// margin for download and upload (`--lease-margin`); nil for no limit.
    package var leaseLimit: Duration?
    /// Set when a runner trusted for its record runs the job alone (`hub serve --adaptive`).
    package var trust: Trust?
    /// The tags its runner must have (`tags:` in job/construir.yml).
    package var tags: [String] = []

    /// `tags` as a store keeps them: space-separated (a tag has no space), nil for none.
    package var storedTags: String? { tags.isEmpty ? nil : tags.joined(separator: " ") }

    /// What `storedTags` wrote.
    package static func tags(stored: String?) -> [String] {
        stored.map { $0.split(separator: " ").map(String.init) } ?? []
    }
    package var state: State
    /// Holds handed out so far (the last serial).
    package var handedOut: Int
    /// Holds that ran out or ended in error, and why the last one did.
    package var failures: Int
    package var lastFailure: String?
    package var holds: [Hold]
    package var results: [Replica]
    /// When the hub began to finish the whole job (compare its replicas, or end it in error).
    package var finishingSince: Date?
    /// Once done: when, with what status, and its directory's name in done/ (nil until it got there).
    package var finished: Date?
    package var status: JobResult.Status?
    package var location: String?
    /// When its submitter asked to stop it: no runner gets it again, its runners learn it in
    /// their heartbeats' answers, and it ends `killed`.
    package var stopRequested: Date?
    /// Its place in the fair share between submitters: queued jobs go out by this first, then
    /// by age. A store sets it as it adds the job (`HubJob.share(after:front:)`).
    package var share = 0

    /// The runner a replicated job was handed to alone, and why.
    package struct Trust: Codable, Sendable, Equatable {
        package var runner: String
        /// Its agreed results in a row when it got the job.
        package var agreedInARow: Int
        /// The replicas the job had: it gets them back if that runner fails it.
        package var replicas: Int

        package init(runner: String, agreedInARow: Int, replicas: Int) {
            self.runner = runner
            self.agreedInARow = agreedInARow
            self.replicas = replicas
        }
    }

    package init(id: String, job: String, submitter: String? = nil, queued: Date, sha256: String, size: Int64, replicas: Int = 1,
                 maxReplicas: Int? = nil, leaseLimit: Duration? = nil) {
        self.id = id
        self.job = job
        self.submitter = submitter
        self.queued = queued
        self.sha256 = sha256
        self.size = size
        self.replicas = max(replicas, 1)
        self.maxReplicas = max(maxReplicas ?? replicas, self.replicas)
        self.leaseLimit = leaseLimit
        state = .queued
        handedOut = 0
        failures = 0
        holds = []
        results = []
    }

    /// The image index the job's name asks for, nil when it names none (the runner's default).
    package var image: Int? {
        JobName(fileName: job)?.requestedImage
    }

    /// `holder`'s live hold at `now`.
    package func hold(of holder: String, at now: Date) -> Hold? {
        holds.first { $0.holder == holder && $0.finishing == nil && $0.expires > now }
    }

    /// Places waiting for a runner: replicas not yet held nor reported. Zero once finishing.
    package var openPlaces: Int {
        guard stopRequested == nil, state == .queued || state == .held else { return 0 }
        return max(0, replicas - holds.count - results.count)
    }

    /// Whether `holder` may take a replica now: the job wants another runner, and `holder`
    /// neither runs it nor reported a result for it (replicas come from different runners).
    package func wantsRunner(_ holder: String, maxAttempts: Int) -> Bool {
        openPlaces > 0 && failures < maxAttempts
            && !holds.contains { $0.holder == holder } && !results.contains { $0.runner == holder }
    }

    /// Whether every replica's result is in; for a stopped job, the first one that comes.
    package var isComplete: Bool { results.count >= replicas || (stopRequested != nil && !results.isEmpty) }

    /// A stopped job no runner holds any more (none had it, or its holds ran out or failed):
    /// the hub ends it `killed` itself.
    package var isStoppedUnheld: Bool {
        stopRequested != nil && (state == .queued || state == .held) && holds.isEmpty
    }

    /// No runner will get it again: its holds failed `maxAttempts` times and none is left.
    package func isExhausted(maxAttempts: Int) -> Bool {
        state == .held && holds.isEmpty && failures >= maxAttempts && !isComplete
    }

    // MARK: Transitions

    /// Gives `holder` a new hold until `now + duration` (or the lease limit). The caller
    /// checked `wantsRunner`. With `alone`, a replicated job that no runner had yet goes to
    /// `holder` only: it is trusted for `alone`'s agreed results in a row.
    package mutating func hand(to holder: String, now: Date, duration: Duration, alone: Int? = nil) -> Hold {
        if let alone, replicas > 1, handedOut == 0, results.isEmpty {
            trust = Trust(runner: holder, agreedInARow: alone, replicas: replicas)
            replicas = 1
        }
        handedOut += 1
        state = .held
        let hold = Hold(holder: holder, serial: handedOut, attempt: failures + 1, claimed: now,
                        expires: expiry(claimed: now, now: now, duration: duration))
        holds.append(hold)
        return hold
    }

    /// Moves `holder`'s live hold on by `duration` from `now`, never past its lease limit.
    package mutating func heartbeat(holder: String, now: Date, duration: Duration) throws(HubNotHeld) -> Hold {
        let limit = leaseLimit
        return try changeHold(of: holder, at: now) {
            $0.expires = Self.expiry(claimed: $0.claimed, now: now, duration: duration, limit: limit)
        }
    }

    private func expiry(claimed: Date, now: Date, duration: Duration) -> Date {
        Self.expiry(claimed: claimed, now: now, duration: duration, limit: leaseLimit)
    }

    private static func expiry(claimed: Date, now: Date, duration: Duration, limit: Duration?) -> Date {
        let renewed = now.addingTimeInterval(duration.seconds)
        guard let limit else { return renewed }
        return min(renewed, claimed.addingTimeInterval(limit.seconds))
    }

    /// Whether `hold` ends at the job's lease limit rather than for want of a heartbeat.
    package func reachedLimit(_ hold: Hold) -> Bool {
        leaseLimit.map { hold.expires >= hold.claimed.addingTimeInterval($0.seconds) } ?? false
    }

    /// A trusted runner gave the job back or failed it: it is replicated again.
    private mutating func distrust(_ holder: String) {
        guard let trust, trust.runner == holder else { return }
        replicas = max(replicas, trust.replicas)
        self.trust = nil
    }

    /// `holder` gives the job back unfinished (its runner is stopping): its place waits for the
    /// next runner, ahead of the queue, and counts as no failure.
    package mutating func release(holder: String, now: Date) throws(HubNotHeld) {
        guard hold(of: holder, at: now) != nil else { throw HubNotHeld(id: id) }
        holds.removeAll { $0.holder == holder }
        distrust(holder)
    }

    /// Ends every hold that ran out by `now`, each counted as a failure. Returns them.
    package mutating func expireHolds(now: Date) -> [Hold] {
        guard state == .held else { return [] }
        let ended = holds.filter { $0.finishing == nil && $0.expires <= now }
        for hold in ended {
            failures += 1
            if reachedLimit(hold), let limit = leaseLimit {
                lastFailure = "the lease of runner \(hold.holder) reached the job's limit of \(Int(limit.seconds)) s (its timeout and the hub's --lease-margin)"
            } else {
                lastFailure = "the lease of runner \(hold.holder) ran out (it stopped sending heartbeats)"
            }
            distrust(hold.holder)
        }
        holds.removeAll { hold in ended.contains { $0.serial == hold.serial } }
        return ended
    }

    /// Takes `holder`'s hold out of circulation while its result is taken in: it no longer
    /// expires or takes another result.
    package mutating func beginFinishing(holder: String, now: Date) throws(HubNotHeld) -> Hold {
        try changeHold(of: holder, at: now) { $0.finishing = now }
    }

    /// Records what `holder` reported, ending its finishing hold: a result (`replica`), or a
    /// failure (`failure` says why). Once every replica's result is in, the job is finishing,
    /// unless they form no majority and it may ask for one more (`growsForMajority`).
    package mutating func record(holder: String, replica: Replica?, failure: String?, now: Date) throws(HubNotHeld) {
        guard state == .held, holds.contains(where: { $0.holder == holder && $0.finishing != nil }) else { throw HubNotHeld(id: id) }
        holds.removeAll { $0.holder == holder }
        if let replica {
            results.append(replica)
        } else {
            failures += 1
            lastFailure = failure
            distrust(holder)
        }
        finishIfComplete(now: now)
    }

    /// Complete and with a majority (or no room to grow): finishing. Complete without one: one
    /// more replica.
    private mutating func finishIfComplete(now: Date) {
        guard isComplete else { return }
        if stopRequested == nil, replicas < maxReplicas, Self.majority(of: results) == nil {
            replicas += 1
            return
        }
        state = .finishing
        finishingSince = now
    }

    /// The share of a submitter's next job, whose last job had `last` (nil: none yet), when the
    /// front of the queue (its lowest waiting share, or the highest given when none waits) is
    /// `front`. Each submitter's jobs take turns with everyone else's: 200 jobs of one and then
    /// 1 of another go out as 1, 1', 2, 3, ..., and a submitter back after a while starts at
    /// the front, neither ahead of those waiting nor behind for what it ran before.
    package static func share(after last: Int?, front: Int) -> Int {
        max((last ?? 0) + 1, front)
    }

    /// Pickup order within one submitter's share: older first, then by id. A store gives the
    /// jobs of a batch their shares in this order.
    package static func olderFirst(_ a: HubJob, _ b: HubJob) -> Bool {
        (a.queued, a.id) < (b.queued, b.id)
    }

    /// What asking a job to stop did.
    package enum Stop: Sendable, Equatable {
        /// No runner holds it: the hub ends it `killed` now (`isStoppedUnheld`).
        case endsNow
        /// Its runners learn it in their next heartbeat's answer.
        case asked
        /// It had ended, or its last result is being taken in.
        case tooLate
    }

    /// Its submitter asks to stop it. Asking again changes nothing.
    package mutating func requestStop(now: Date) -> Stop {
        guard state == .queued || state == .held else { return .tooLate }
        if stopRequested == nil { stopRequested = now }
        return holds.isEmpty ? .endsNow : .asked
    }

    /// Takes the whole job out of circulation so the hub can end it itself (as an error).
    package mutating func beginFinishingJob(now: Date) throws(HubNotHeld) {
        guard state == .queued || state == .held else { throw HubNotHeld(id: id) }
        state = .finishing
        finishingSince = now
    }

    /// The job's result.json is written: it is done, with `status`.
    package mutating func end(status: JobResult.Status, now: Date) {
        state = .done
        self.status = status
        finished = now
        finishingSince = nil
        holds = []
    }

    /// The job's directory reached done/ as `location`; "" when it is gone from the hub's
    /// directory but the name it got in done/ is not known (another hub moved it, or this one
    /// did before it stopped). An unknown name never replaces a known one: two hubs publishing
    /// the same job at once both record, in either order.
    package mutating func published(as location: String) {
        if location.isEmpty, let known = self.location, !known.isEmpty { return }
        self.location = location
    }

    /// Settles what a hub that stopped left halfway: a hold whose result was being taken in
    /// since `staleBefore` or earlier becomes that result if the hub had kept it (`keptReplica`),
    /// else a failure; a job being ended in error since then, not complete, goes back to its
    /// runners. With `renewingUntil` (a hub's start), every live hold lasts at least until
    /// then, so that runners that kept working while the hub was away can send their
    /// heartbeats again. Returns whether the job is finishing and its finish is stale: the
    /// caller then finishes it (again).
    @discardableResult
    package mutating func settle(staleBefore: Date, renewingUntil: Date? = nil, keptReplica: (Hold) -> Replica?) -> Bool {
        switch state {
        case .finishing:
            guard let since = finishingSince, since <= staleBefore else { return false }
            if isComplete { return true }
            state = .held
            finishingSince = nil
        case .held:
            if let renewed = renewingUntil {
                for index in holds.indices where holds[index].finishing == nil && holds[index].expires < renewed {
                    holds[index].expires = Self.expiry(claimed: holds[index].claimed, now: renewed, duration: .zero, limit: leaseLimit)
                }
            }
            for hold in holds {
                guard let since = hold.finishing, since <= staleBefore else { continue }
                holds.removeAll { $0.serial == hold.serial }
                if let replica = keptReplica(hold) {
                    results.append(replica)
                } else {
                    failures += 1
                    lastFailure = "the hub stopped while it took in the result of runner \(hold.holder)"
                    distrust(hold.holder)
                }
            }
            finishIfComplete(now: staleBefore)
            if state == .finishing { return true }
        case .queued, .done:
            break
        }
        return false
    }

    /// How the results compare once every replica is in; nil until then.
    package var verdict: HubVerdict? {
        let ordered = results.sorted { $0.serial < $1.serial }
        guard isComplete, let first = ordered.first else { return nil }
        // A stopped job ends with what came; there is nothing to compare.
        if stopRequested != nil { return HubVerdict(state: .agreed, canonical: first, majority: ordered, dissenters: []) }
        if let trust, ordered.count == 1, first.runner == trust.runner {
            return HubVerdict(state: .trusted, canonical: first, majority: ordered, dissenters: [])
        }
        guard let majority = Self.majority(of: ordered) else {
            return HubVerdict(state: .disputed, canonical: first, majority: [], dissenters: ordered)
        }
        return HubVerdict(state: .agreed, canonical: majority[0], majority: majority,
                          dissenters: ordered.filter { replica in !majority.contains { $0.runner == replica.runner } })
    }

    /// The results that a strict majority agrees on, in serial order; nil when none does.
    /// (Two groups cannot both be a strict majority.)
    static func majority(of results: [Replica]) -> [Replica]? {
        let ordered = results.sorted { $0.serial < $1.serial }
        for candidate in ordered {
            let group = ordered.filter { $0.agrees(with: candidate) }
            if group.count * 2 > ordered.count { return group }
        }
        return nil
    }

    private mutating func changeHold(of holder: String, at now: Date, _ change: (inout Hold) -> Void) throws(HubNotHeld) -> Hold {
        guard state == .held, let index = holds.firstIndex(where: { $0.holder == holder }),
              hold(of: holder, at: now) != nil else { throw HubNotHeld(id: id) }
        change(&holds[index])
        return holds[index]
    }
}
