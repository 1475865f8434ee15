import ConstruirSystem
import Foundation
import JobModel
import Synchronization

/// The jobs a hub handed out, each in `LEASES/ID/` (`job.tar.xz` and `lease.json`).
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
    private let lock: FileLock
    /// Serialises changes within the process; the lock keeps other processes out.
    private let changes = Mutex(())

    /// Why a lease operation was refused: the job is not (or no longer) this runner's.
    public struct NotHeld: Error, Sendable, CustomStringConvertible {
        public let id: String
        public var description: String { "job \(id) is not leased to this runner (its lease expired, or it never was)" }
    }

    public init(queueDirectory: String, directory: String, duration: Duration, maxAttempts: Int = 3,
                maxLeasesPerRunner: Int = 32) throws {
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
        self.lock = lock
    }

    /// Every lease, oldest job first.
    public func leases() -> [HubLease] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return ids.filter { !$0.hasPrefix(".") }.compactMap { read($0) }
            .sorted { $0.queued != $1.queued ? $0.queued < $1.queued : $0.id < $1.id }
    }

    /// Hands the next job to `holder`: a job whose earlier lease ran out first, then the oldest
    /// queued one. Nil when there is none, or when `holder` already holds `maxLeasesPerRunner`.
    /// Jobs `accepting` refuses are skipped (a runner whose build image differs from the hub's).
    public func claim(for holder: String, now: Date = Date(), accepting: (JobName) -> Bool = { _ in true }) throws -> HubLease? {
        try changes.withLock { _ in
            let all = leases()
            guard all.filter({ $0.isHeld(by: holder, at: now) }).count < maxLeasesPerRunner else { return nil }
            // A lease that reached maxAttempts waits for the hub to finish it as an error.
            if var lease = all.first(where: { $0.isWaiting(maxAttempts: maxAttempts) && (JobName(fileName: $0.job).map(accepting) ?? true) }) {
                clearAttempt(in: path(lease.id))
                lease.holder = holder
                lease.attempt += 1
                lease.claimed = now
                lease.expires = now.addingTimeInterval(duration.seconds)
                try write(lease)
                return lease
            }
            for name in QueueListing.pending(in: queueDirectory) where accepting(name) {
                if let lease = try take(name, for: holder, now: now) { return lease }
            }
            return nil
        }
    }

    /// Moves `holder`'s lease on by `duration` from `now`.
    public func heartbeat(id: String, holder: String, now: Date = Date()) throws -> HubLease {
        try changes.withLock { _ in
            guard var lease = read(id), lease.isHeld(by: holder, at: now) else { throw NotHeld(id: id) }
            lease.expires = now.addingTimeInterval(duration.seconds)
            try write(lease)
            return lease
        }
    }

    /// Gives a job back unfinished (its runner is stopping): it waits in its lease directory for
    /// the next runner, ahead of the queue, and this lease counts as no attempt.
    public func release(id: String, holder: String, now: Date = Date()) throws {
        try changes.withLock { _ in
            guard var lease = read(id), lease.isHeld(by: holder, at: now) else { throw NotHeld(id: id) }
            lease.attempt -= 1
            lease.holder = nil
            lease.claimed = nil
            lease.expires = nil
            try write(lease)
        }
    }

    /// Ends every lease that ran out by `now`: each waits in its directory for the next runner
    /// (ahead of the queue) with its attempt counted. Returns the leases that ran out; those
    /// that reached `maxAttempts` are then among `exhausted()`.
    public func expire(now: Date = Date()) throws -> [HubLease] {
        try changes.withLock { _ in
            var expired: [HubLease] = []
            for var lease in leases() where lease.holder != nil && lease.finishing != true && (lease.expires ?? now) <= now {
                expired.append(lease)
                lease.holder = nil
                lease.claimed = nil
                lease.expires = nil
                try write(lease)
            }
            return expired
        }
    }

    /// `holder`'s live lease `id`, for its uploads; throws `NotHeld` otherwise (a late upload
    /// from a runner whose lease ran out changes nothing).
    public func lease(_ id: String, heldBy holder: String, now: Date = Date()) throws -> HubLease {
        try changes.withLock { _ in
            guard let lease = read(id), lease.isHeld(by: holder, at: now) else { throw NotHeld(id: id) }
            return lease
        }
    }

    /// Removes what an earlier attempt left in a lease directory (uploads, a half-taken-in
    /// output), keeping the job and the lease: the next runner starts clean.
    private func clearAttempt(in directory: String) {
        let keep: Set<String> = ["job.tar.xz", "lease.json"]
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where !keep.contains(name) {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
        }
    }

    /// Whether a runner asking now would get a job: a lease waiting for its next runner, or a
    /// queued job file.
    public func hasWork() -> Bool {
        leases().contains { $0.isWaiting(maxAttempts: maxAttempts) } || !QueueListing.pending(in: queueDirectory).isEmpty
    }

    /// Leases no runner will get again: they ran out `maxAttempts` times. The hub finishes them
    /// as errors.
    public func exhausted() -> [HubLease] {
        leases().filter { $0.holder == nil && $0.finishing != true && $0.attempt >= maxAttempts }
    }

    /// Takes lease `id` out of circulation while its result is taken in: it is no longer handed
    /// out, expired, or accepted from anyone. With `holder`, only while that runner holds it
    /// (else `NotHeld`); without, whoever holds it (the hub finishes the job itself).
    public func beginFinishing(id: String, holder: String? = nil, now: Date = Date()) throws -> HubLease {
        try changes.withLock { _ in
            guard var lease = read(id), holder.map({ lease.isHeld(by: $0, at: now) }) ?? true else { throw NotHeld(id: id) }
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
    /// kept working while the hub was away can send their heartbeats again. A lease whose
    /// result was being taken in when the hub stopped, and has no result.json yet, waits for
    /// the next runner with its attempt counted. Returns the directories of finished jobs not
    /// yet moved to done/ (they have result.json, no lease).
    public func recover(now: Date = Date()) throws -> [String] {
        try changes.withLock { _ in
            for var lease in leases() where lease.holder != nil && lease.finishing != true {
                let renewed = now.addingTimeInterval(duration.seconds)
                if (lease.expires ?? now) < renewed {
                    lease.expires = renewed
                    try write(lease)
                }
            }
            for var lease in leases() where lease.finishing == true {
                if FileSystem.exists("\(path(lease.id))/result.json") {
                    try FileManager.default.removeItem(atPath: "\(path(lease.id))/lease.json")
                    continue
                }
                lease.finishing = nil
                lease.holder = nil
                lease.claimed = nil
                lease.expires = nil
                try write(lease)
            }
            return finishedDirectories()
        }
    }

    /// Lease directories holding a finished job (result.json, no lease.json): the job waits to be
    /// moved to done/ (done/ was full, or the hub stopped first).
    public func finishedDirectories() -> [String] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return ids.filter { !$0.hasPrefix(".") }.map { path($0) }.filter {
            FileSystem.exists("\($0)/result.json") && !FileSystem.exists("\($0)/lease.json")
        }
    }

    public func path(_ id: String) -> String { "\(directory)/\(id)" }

    /// Moves the queued job `name` into a new lease for `holder`; nil when another runner took
    /// it from the queue first.
    private func take(_ name: JobName, for holder: String, now: Date) throws -> HubLease? {
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
        let lease = HubLease(id: id, job: name.fileName, holder: holder, attempt: 1, queued: queued, claimed: now,
                             expires: now.addingTimeInterval(duration.seconds),
                             sha256: try BuildImage.sha256(ofFile: job), size: try FileSystem.size(of: job))
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
