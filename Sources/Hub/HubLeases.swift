import ConstruirSystem
import Foundation
import JobModel
import Synchronization

/// The jobs a hub handed out, each in `LEASES/ID/` (`job.tar.xz` and `lease.json`, and what
/// each replica's runner sent under `replicas/RUNNER/`).
///
/// A job moves from the queue into its lease directory by one rename, as a local runner's claim
/// does, so the queue directory stays the only inbox: files dropped there are served, and a
/// local runner may work the same queue beside the hub. Leases are on disk, written durably
/// before an answer goes out, so a hub that restarts loses no job and no lease. The directory
/// is the hub's alone, mode 0700, held by a lock for the life of the process.
///
/// Blocking (renames, fsync, hashing a job): call it from a thread of its own.
public final class HubLeases: Sendable {
    public let queueDirectory: String
    public let directory: String
    /// How long a lease lasts without a heartbeat (`hub serve --lease`).
    public let duration: Duration
    /// A job whose lease ran out this many times ends in error instead of being handed out again.
    public let maxAttempts: Int
    /// The most leases one runner token may hold at once (`hub serve --max-leases`): a runner
    /// that claims without running cannot take the whole queue.
    public let maxLeasesPerRunner: Int
    /// How many runners each job goes to (`hub serve --replicas`, a manifest's `replicas:`).
    public let replication: HubReplication
    private let lock: FileLock
    /// Serialises changes within the process; the lock keeps other processes out.
    private let changes = Mutex(())

    /// Why a lease operation was refused: the job is not (or no longer) this runner's.
    public struct NotHeld: Error, Sendable, CustomStringConvertible {
        public let id: String
        public var description: String { "job \(id) is not leased to this runner (its lease expired, or it never was)" }
    }

    public init(queueDirectory: String, directory: String, duration: Duration, maxAttempts: Int = 3,
                maxLeasesPerRunner: Int = 32, replication: HubReplication = HubReplication()) throws {
        guard FileSystem.isDirectory(queueDirectory) else {
            throw ConstruirError(.notFound, "queue directory \(queueDirectory) does not exist")
        }
        try PrivateDirectory.make(directory)
        guard let lock = try FileLock.tryLock("\(directory)/.lock", mode: 0o600) else {
            throw ConstruirError(.system, "another hub uses the lease directory \(directory)")
        }
        self.queueDirectory = queueDirectory
        self.directory = directory
        self.duration = duration
        self.maxAttempts = maxAttempts
        self.maxLeasesPerRunner = maxLeasesPerRunner
        self.replication = replication
        self.lock = lock
    }

    /// Every lease, oldest job first.
    public func leases() -> [HubLease] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return ids.filter { !$0.hasPrefix(".") }.compactMap { read($0) }
            .sorted { $0.queued != $1.queued ? $0.queued < $1.queued : $0.id < $1.id }
    }

    /// Hands the next job to `holder`: a job that wants another runner first (a hold ran out,
    /// or it needs more replicas), then the oldest queued one. Nil when there is none,
    /// when `holder` already holds `maxLeasesPerRunner`, or when `accepting` refuses every job
    /// (the runner's image differs from the hub's).
    public func claim(for holder: String, now: Date = Date(), accepting: (JobName) -> Bool = { _ in true }) throws -> HubHold? {
        try changes.withLock { _ in
            let all = leases()
            guard all.filter({ $0.hold(of: holder, at: now) != nil }).count < maxLeasesPerRunner else { return nil }
            if var lease = all.first(where: { $0.wantsRunner(holder, maxAttempts: maxAttempts) && accepts($0.job, accepting) }) {
                return try hand(&lease, to: holder, now: now)
            }
            for name in QueueListing.pending(in: queueDirectory) where accepting(name) {
                if var lease = try take(name, now: now) { return try hand(&lease, to: holder, now: now) }
            }
            return nil
        }
    }

    private func accepts(_ job: String, _ accepting: (JobName) -> Bool) -> Bool {
        JobName(fileName: job).map(accepting) ?? true
    }

    /// Gives `holder` a new hold on `lease` and writes it.
    private func hand(_ lease: inout HubLease, to holder: String, now: Date) throws -> HubHold {
        if lease.holds.isEmpty && lease.results.isEmpty { clearAttempts(in: path(lease.id)) }
        lease.handedOut += 1
        let hold = HubLease.Hold(holder: holder, serial: lease.handedOut, attempt: lease.failures + 1, claimed: now,
                                 expires: now.addingTimeInterval(duration.seconds))
        lease.holds.append(hold)
        try write(lease)
        return HubHold(lease: lease, hold: hold)
    }

    /// Moves `holder`'s hold on by `duration` from `now`.
    public func heartbeat(id: String, holder: String, now: Date = Date()) throws -> HubHold {
        try changes.withLock { _ in
            try update(id, holder: holder, now: now) { hold in hold.expires = now.addingTimeInterval(duration.seconds) }
        }
    }

    /// Gives a job back unfinished (its runner is stopping): its place waits for the next runner,
    /// ahead of the queue, and counts as no failure.
    public func release(id: String, holder: String, now: Date = Date()) throws {
        try changes.withLock { _ in
            guard var lease = read(id), lease.hold(of: holder, at: now) != nil else { throw NotHeld(id: id) }
            lease.holds.removeAll { $0.holder == holder }
            try write(lease)
        }
    }

    /// Ends every hold that ran out by `now`, each counted as a failure; its place waits for
    /// the next runner (ahead of the queue). Returns the holds that ran out; jobs that reached
    /// `maxAttempts` failures are then among `exhausted()`.
    public func expire(now: Date = Date()) throws -> [HubHold] {
        try changes.withLock { _ in
            var expired: [HubHold] = []
            for var lease in leases() where lease.finishing != true {
                let ended = lease.holds.filter { $0.finishing != true && $0.expires <= now }
                guard !ended.isEmpty else { continue }
                for hold in ended {
                    expired.append(HubHold(lease: lease, hold: hold))
                    lease.failures += 1
                    lease.lastFailure = "the lease of runner \(hold.holder) ran out (it stopped sending heartbeats)"
                }
                lease.holds.removeAll { hold in ended.contains { $0.serial == hold.serial } }
                try write(lease)
            }
            return expired
        }
    }

    /// `holder`'s live hold on job `id`, for its uploads; throws `NotHeld` otherwise (a late
    /// upload from a runner whose hold ran out changes nothing).
    public func lease(_ id: String, heldBy holder: String, now: Date = Date()) throws -> HubHold {
        try changes.withLock { _ in
            guard let lease = read(id), let hold = lease.hold(of: holder, at: now) else { throw NotHeld(id: id) }
            return HubHold(lease: lease, hold: hold)
        }
    }

    /// Removes what earlier holds left in a lease directory (uploads, half-taken-in outputs),
    /// keeping the job and the lease: a job that starts over starts clean.
    private func clearAttempts(in directory: String) {
        let keep: Set<String> = ["job.tar.xz", "lease.json"]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where !keep.contains(name) {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
        }
    }

    /// Whether `holder` asking now would get a job: a lease that wants another runner, or a
    /// queued job file it accepts.
    public func hasWork(for holder: String, accepting: (JobName) -> Bool = { _ in true }) -> Bool {
        leases().contains { $0.wantsRunner(holder, maxAttempts: maxAttempts) && accepts($0.job, accepting) }
            || QueueListing.pending(in: queueDirectory).contains(where: accepting)
    }

    /// Jobs no runner will get again: their holds failed `maxAttempts` times and none is left.
    /// The hub ends them as errors.
    public func exhausted() -> [HubLease] {
        leases().filter { $0.finishing != true && $0.holds.isEmpty && $0.failures >= maxAttempts && !$0.isComplete }
    }

    /// Takes `holder`'s hold on job `id` out of circulation while its result is taken in: it no
    /// longer expires or takes another result. Throws `NotHeld` unless `holder` holds it now.
    public func beginFinishing(id: String, holder: String, now: Date = Date()) throws -> HubHold {
        try changes.withLock { _ in
            try update(id, holder: holder, now: now) { hold in hold.finishing = true }
        }
    }

    /// Records what `holder` reported, ending its hold: a result (`replica`), or a failure
    /// (`failure` says why: it sent an error, or an output the hub refused). Once every
    /// replica's result is in, the lease is marked finishing in the same write, and the caller
    /// finishes the job. Returns the lease as written.
    public func record(id: String, holder: String, replica: HubLease.Replica?, failure: String?) throws -> HubLease {
        try changes.withLock { _ in
            guard var lease = read(id), lease.holds.contains(where: { $0.holder == holder && $0.finishing == true }) else {
                throw NotHeld(id: id)
            }
            lease.holds.removeAll { $0.holder == holder }
            if let replica {
                lease.results.append(replica)
            } else {
                lease.failures += 1
                lease.lastFailure = failure
            }
            if lease.isComplete { lease.finishing = true }
            try write(lease)
            return lease
        }
    }

    /// Takes job `id` out of circulation so the hub can end it itself (as an error).
    public func beginFinishingJob(id: String) throws -> HubLease {
        try changes.withLock { _ in
            guard var lease = read(id) else { throw NotHeld(id: id) }
            lease.finishing = true
            try write(lease)
            return lease
        }
    }

    /// Ends a lease whose job is finished: its directory now holds the job as done/ wants it,
    /// result.json included, and is no lease any more.
    public func endLease(id: String) throws {
        try changes.withLock { _ in
            try FileManager.default.removeItem(atPath: "\(path(id))/lease.json")
        }
    }

    /// At start: every held lease gets at least one lease length from `now`, so runners that
    /// kept working while the hub was away can send their heartbeats again. A hold whose result
    /// was being taken in when the hub stopped becomes that result if the hub had kept it
    /// (`replicaResult` reads it back), else a failure. A job being ended in error starts over
    /// unless its result.json was written. Returns the directories of finished jobs not yet
    /// moved to done/ (they have result.json, no lease).
    public func recover(now: Date = Date(), replicaResult: (HubHold) -> HubLease.Replica?) throws -> [String] {
        try changes.withLock { _ in
            for var lease in leases() {
                let before = lease
                if lease.finishing == true {
                    if FileSystem.exists("\(path(lease.id))/result.json") {
                        try FileManager.default.removeItem(atPath: "\(path(lease.id))/lease.json")
                        continue
                    }
                    if !lease.isComplete { lease.finishing = nil }
                } else {
                    let renewed = now.addingTimeInterval(duration.seconds)
                    for (index, hold) in lease.holds.enumerated() where hold.finishing != true && hold.expires < renewed {
                        lease.holds[index].expires = renewed
                    }
                    for hold in lease.holds where hold.finishing == true {
                        lease.holds.removeAll { $0.serial == hold.serial }
                        if let replica = replicaResult(HubHold(lease: lease, hold: hold)) {
                            lease.results.append(replica)
                        } else {
                            lease.failures += 1
                            lease.lastFailure = "the hub stopped while it took in the result of runner \(hold.holder)"
                        }
                    }
                    if lease.isComplete { lease.finishing = true }
                }
                // Only what changed is written: a hub with many leases starts without an fsync each.
                if lease != before { try write(lease) }
            }
            return finishedDirectories()
        }
    }

    /// Leases whose every replica reported but whose job was not finished yet (the hub stopped
    /// between the last result and result.json).
    public func awaitingCompletion() -> [HubLease] {
        leases().filter { $0.finishing == true && $0.isComplete && !FileSystem.exists("\(path($0.id))/result.json") }
    }

    /// Lease directories holding a finished job (result.json, no lease.json): the job waits to be
    /// moved to done/ (done/ was full, or the hub stopped first).
    public func finishedDirectories() -> [String] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return ids.filter { !$0.hasPrefix(".") }.map { path($0) }.filter {
            FileSystem.exists("\($0)/result.json") && !FileSystem.exists("\($0)/lease.json")
        }
    }

    /// Changes `holder`'s live hold on job `id` and writes it.
    private func update(_ id: String, holder: String, now: Date, _ change: (inout HubLease.Hold) -> Void) throws -> HubHold {
        guard var lease = read(id), let index = lease.holds.firstIndex(where: { $0.holder == holder }),
              lease.hold(of: holder, at: now) != nil else { throw NotHeld(id: id) }
        change(&lease.holds[index])
        try write(lease)
        return HubHold(lease: lease, hold: lease.holds[index])
    }

    public func path(_ id: String) -> String { "\(directory)/\(id)" }

    /// Moves the queued job `name` into a new lease, not yet held; nil when another runner
    /// took it from the queue first.
    private func take(_ name: JobName, now: Date) throws -> HubLease? {
        let source = "\(queueDirectory)/\(name.fileName)"
        var st = stat()
        guard lstat(source, &st) == 0 else { return nil }
        let queued = Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
        let id = "\(Int(now.timeIntervalSince1970 * 1000))-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))-\(name.safeName.prefix(40))"
        let leaseDirectory = path(id)
        try PrivateDirectory.make(leaseDirectory)
        do {
            try FileSystem.renameNoReplace(source, "\(leaseDirectory)/job.tar.xz")
        } catch {
            try? FileManager.default.removeItem(atPath: leaseDirectory)
            if error.errno == ENOENT { return nil }
            throw error
        }
        try? FileSystem.fsync(path: queueDirectory)
        let job = "\(leaseDirectory)/job.tar.xz"
        let lease = HubLease(id: id, job: name.fileName, queued: queued, sha256: try BuildImage.sha256(ofFile: job),
                             size: try FileSystem.size(of: job), replicas: replication.replicas(forJob: job))
        try write(lease)
        try? FileSystem.fsync(path: directory)
        return lease
    }

    private func read(_ id: String) -> HubLease? {
        guard SafeName.isSafe(id), !id.hasPrefix("."), !id.isEmpty,
              let data = try? Data(contentsOf: URL(fileURLWithPath: "\(path(id))/lease.json")),
              let lease = try? HubLease.decode(data), lease.id == id else { return nil }
        return lease
    }

    private func write(_ lease: HubLease) throws {
        try FileSystem.writeDurably(try lease.encoded(), to: "\(path(lease.id))/lease.json", mode: 0o600)
    }
}
