import ConstruirSystem
import Foundation
import JobModel
import Synchronization

/// The queue directory and the runner state directory beside it.
///
/// A job is claimed by one rename from `queue/NAME.tar.xz` to `STATE/running/ID/job.tar.xz`:
/// the state directory must be on the same filesystem, so at every moment the job file is in
/// exactly one place, and a rename that fails means another runner took it. Runners sharing the
/// queue (on one host or several, over NFS) share the state directory too.
package struct JobQueue: Sendable {
    package let queueDirectory: String
    package let stateDirectory: String
    package let runningDirectory: String

    /// A running directory without a job file is removed only when older than this (it may be a
    /// claim in progress in another runner).
    static let staleEmptyClaimAge: TimeInterval = 60

    package init(queueDirectory: String, stateDirectory: String) throws {
        self.queueDirectory = queueDirectory
        self.stateDirectory = stateDirectory
        self.runningDirectory = "\(stateDirectory)/running"
        guard FileSystem.isDirectory(queueDirectory) else {
            throw ConstruirError(.notFound, "queue directory \(queueDirectory) does not exist")
        }
        // Traversable but not listable: under qemu:///system, QEMU runs as another user and
        // must reach the job's files, which libvirt hands to that user.
        try FileSystem.makeDirectory(runningDirectory, mode: 0o711)
        chmod(stateDirectory, 0o711)
        chmod(runningDirectory, 0o711)
    }

    /// The jobs waiting in the queue, oldest first (by mtime, then name).
    package func pending() -> [JobName] {
        QueueListing.pending(in: queueDirectory)
    }

    /// Claims `job` for `runner`; nil when it is no longer in the queue (another runner took it).
    /// `killing` (`construir kill` taking a queued job) writes its `KillRequest` before the
    /// rename: a claim cut short by a crash is then killed, never run, by the runner that adopts it.
    package func claim(_ job: JobName, by runner: RunnerIdentity, slot: Int = 1, killing: KillRequest? = nil) throws -> ClaimedJob? {
        let id = QueueClaim.newID(for: job)
        let directory = "\(runningDirectory)/\(id)"
        let kill = try killing?.encoded()
        guard let queuedAt = try QueueClaim.take("\(queueDirectory)/\(job.fileName)", to: "\(directory)/\(JobFiles.job)",
                                                 directory: directory, prepare: { queuedAt in
            try FileSystem.makeDirectory(directory, mode: 0o755)
            try writeClaim(ClaimRecord(id: id, job: job.fileName, runner: runner.id, host: runner.host, pid: getpid(), slot: slot,
                                       claimed: Date(), queued: queuedAt, attempt: 1), in: directory)
            if let kill { try FileSystem.writeDurably(kill, to: "\(directory)/\(KillRequest.fileName)") }
        }) else { return nil }
        try? FileSystem.fsync(path: directory)
        try? FileSystem.fsync(path: runningDirectory)
        try? FileSystem.fsync(path: queueDirectory)
        return ClaimedJob(name: job, directory: directory, queuedAt: queuedAt, attempt: 1, slot: slot)
    }

    /// Puts a claimed job's file back in the queue under its original name (used when the runner
    /// stops before the job finished; that does not count as an attempt) and removes its
    /// running directory.
    package func requeue(_ job: ClaimedJob) throws {
        var target = "\(queueDirectory)/\(job.name.fileName)"
        var attempt = 1
        while true {
            do {
                try FileSystem.renameNoReplace(job.jobPath, target)
                break
            } catch {
                guard error.errno == EEXIST, attempt < 100 else { throw error }
                attempt += 1
                let stem = job.name.fileName.dropLast(JobName.suffix.count)
                target = "\(queueDirectory)/\(stem)-requeued\(attempt)\(JobName.suffix)"
            }
        }
        try? FileSystem.fsync(path: queueDirectory)
        try FileManager.default.removeItem(atPath: job.directory)
        try? FileSystem.fsync(path: runningDirectory)
    }

    /// A job in running/ whose runner is gone.
    package struct Orphan: Sendable {
        package let directory: String
        /// The claim as the dead runner wrote it; nil if it was lost or never written.
        package let record: ClaimRecord?
        package var id: String { (directory as NSString).lastPathComponent }
    }

    /// Jobs in running/ whose runner died (its lock is free). Directories of dead claims that
    /// never received a job file are removed.
    package func orphans(isAlive: (ClaimRecord) -> Bool) -> [Orphan] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: runningDirectory)) ?? []
        var orphans: [Orphan] = []
        for id in entries.sorted() where !id.hasPrefix(".") {
            let directory = "\(runningDirectory)/\(id)"
            let record = (try? Data(contentsOf: URL(fileURLWithPath: "\(directory)/claim.json"))).flatMap { try? ClaimRecord.decode($0) }
            if let record, isAlive(record) { continue }
            // Being taken over right now by another runner (see `adopt`), unless that one died too.
            if let record, record.id != id, Self.age(of: "\(directory)/claim.json") < Self.staleEmptyClaimAge { continue }
            if FileSystem.exists("\(directory)/\(JobFiles.job)") || FileSystem.exists("\(directory)/\(JobFiles.result)") {
                orphans.append(Orphan(directory: directory, record: record))
            } else if Self.age(of: directory) > Self.staleEmptyClaimAge {
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        return orphans
    }

    /// Takes over an orphan for `runner`: one rename to a new running directory (so of several
    /// runners racing for it, exactly one wins; nil for the others), its claim rewritten with the
    /// attempt counted, and what the dead runner left half-made removed. A job whose result was
    /// already committed keeps it: only publishing is left.
    package func adopt(_ orphan: Orphan, by runner: RunnerIdentity, slot: Int = 1) throws -> ClaimedJob? {
        let fileName = orphan.record?.job ?? "recovered-\(orphan.id).tar.xz"
        let name = JobName(fileName: fileName) ?? JobName(fileName: "recovered.tar.xz")!
        let id = QueueClaim.newID(for: name)
        let directory = "\(runningDirectory)/\(id)"
        do {
            try FileSystem.renameNoReplace(orphan.directory, directory)
        } catch {
            if error.errno == ENOENT { return nil }
            throw error
        }
        try? FileSystem.fsync(path: runningDirectory)
        let queuedAt = orphan.record?.queued ?? Date(timeIntervalSince1970: FileSystem.modificationTime(of: "\(directory)/\(JobFiles.job)"))
        let attempt = (orphan.record?.attempt ?? 1) + 1
        let record = ClaimRecord(id: id, job: fileName, runner: runner.id, host: runner.host, pid: getpid(), slot: slot,
                                 claimed: Date(), queued: queuedAt, attempt: attempt)
        try writeClaim(record, in: directory)
        let job = ClaimedJob(name: name, directory: directory, queuedAt: queuedAt, attempt: attempt, slot: slot)
        if !job.hasResult { Self.removeLeftovers(in: directory) }
        return job
    }

    /// Removes everything but the job file, its claim and a kill request: disks, partial output,
    /// temporaries.
    static func removeLeftovers(in directory: String) {
        let keep: Set<String> = [JobFiles.job, "claim.json", KillRequest.fileName]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where !keep.contains(entry) {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(entry)")
        }
    }

    private func writeClaim(_ record: ClaimRecord, in directory: String) throws {
        try FileSystem.writeDurably(try record.encoded(), to: "\(directory)/claim.json")
    }

    static func age(of path: String) -> TimeInterval {
        Date().timeIntervalSince1970 - FileSystem.modificationTime(of: path)
    }
}
