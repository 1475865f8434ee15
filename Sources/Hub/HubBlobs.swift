import ConstruirSystem
import Foundation
import HubStore
import JobModel

/// The job files the hub's store names: `DIR/ID/` holds a job's `job.tar.xz`, what each of its
/// runners uploads, each replica's output under `replicas/RUNNER/`, and, once finished, the job
/// as done/ wants it until it moves there.
///
/// The queue directory stays the inbox: `take` moves a queued file here by one rename (a local
/// runner working the same queue may win the rename; then the hub does not get it), writes a
/// note naming it first, and hashes it outside any store transaction. The directory is mode
/// 0700. A hub on its own store holds it by a lock for the life of the process; hubs sharing
/// a database share it too (on a shared filesystem), and take no lock. Blocking: call it from
/// a thread of its own.
package final class HubBlobs: Sendable {
    package let directory: String
    private let lock: FileLock?

    /// Written before the job file moves in, so that a hub that stops between the move and the
    /// store's commit finds the job at start (`strays`).
    static let noteFile = "inbox.json"

    private struct Note: Codable {
        var job: String
        var queued: Date
        var submitter: String?
    }

    package init(directory: String, exclusive: Bool = true) throws {
        try PrivateDirectory.make(directory)
        if exclusive {
            guard let lock = try FileLock.tryLock("\(directory)/.lock", mode: 0o600) else {
                throw ConstruirError(.system, "another hub uses the directory \(directory)")
            }
            self.lock = lock
        } else {
            lock = nil
        }
        self.directory = directory
    }

    package func path(_ id: String) -> String { "\(directory)/\(id)" }
    package func jobPath(_ id: String) -> String { "\(path(id))/\(JobFiles.job)" }

    /// The job files waiting in `queue`: oldest first, or, in a directory hubs share, in random
    /// order (they would otherwise all reach for the same file first, and all but one write its
    /// note for nothing; the order of intake changes no job's place).
    package func pending(in queue: String) -> [JobName] {
        let pending = QueueListing.pending(in: queue)
        return lock == nil ? pending.shuffled() : pending
    }

    /// Takes `names` from `queue`, each by one rename; returns the jobs for the store, each
    /// queued at its file's mtime. A file another runner or hub took first is skipped.
    /// `refused`: the ids of those the hub must end unrun (`HubJobTerms.refusal`), and why.
    package func take(_ names: some Collection<JobName>, from queue: String, terms: HubJobTerms,
                      now: Date = Date()) throws -> (jobs: [HubJob], refused: [String: String]) {
        var taken: [HubJob] = []
        var refused: [String: String] = [:]
        for name in names {
            let id = QueueClaim.newID(for: name, now: now)
            guard let queued = try QueueClaim.take("\(queue)/\(name.fileName)", to: jobPath(id), directory: path(id), prepare: { queued in
                try PrivateDirectory.make(path(id))
                try writeNote(Note(job: name.fileName, queued: queued, submitter: nil), id: id)
            }) else { continue }
            let (job, refusal) = try describe(id: id, name: name.fileName, queued: queued, submitter: nil, terms: terms)
            taken.append(job)
            refused[id] = refusal
        }
        if !taken.isEmpty {
            try? FileSystem.fsync(path: queue)
            try? FileSystem.fsync(path: directory)
        }
        return (taken, refused)
    }

    /// A new directory for a submitter's upload, with the file it streams into.
    package func uploadPlace(for name: JobName, now: Date = Date()) throws -> (id: String, file: String) {
        let id = QueueClaim.newID(for: name, now: now)
        try PrivateDirectory.make(path(id))
        return (id, "\(path(id))/.upload.part")
    }

    /// Makes a checked upload a job of `submitter`.
    package func accept(upload id: String, name: JobName, submitter: String, terms: HubJobTerms, now: Date = Date()) throws -> HubJob {
        try writeNote(Note(job: name.fileName, queued: now, submitter: submitter), id: id)
        try FileSystem.renameNoReplace("\(path(id))/.upload.part", jobPath(id))
        try? FileSystem.fsync(path: directory)
        return try describe(id: id, name: name.fileName, queued: now, submitter: submitter, terms: terms).job
    }

    package func remove(_ id: String) {
        try? FileManager.default.removeItem(atPath: path(id))
    }

    /// Among `ids`, directories the store does not know whose note was written before
    /// `before`: a job taken in whose commit was lost becomes a job again; a half-made directory
    /// (no job file) is removed. The cut-off spares what another hub is taking in now.
    package func strays(_ ids: [String], before: Date, terms: HubJobTerms) -> [HubJob] {
        var found: [HubJob] = []
        for id in ids {
            let notePath = "\(path(id))/\(Self.noteFile)"
            guard let written = try? FileManager.default.attributesOfItem(atPath: notePath)[.modificationDate] as? Date,
                  written <= before,
                  let data = FileManager.default.contents(atPath: notePath),
                  let note = try? JobResult.jsonDecoder().decode(Note.self, from: data) else { continue }
            guard FileSystem.exists(jobPath(id)),
                  let job = try? describe(id: id, name: note.job, queued: note.queued, submitter: note.submitter, terms: terms).job
            else {
                remove(id)
                continue
            }
            found.append(job)
        }
        return found
    }

    /// Every job directory's name.
    package func entries() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter {
            !$0.hasPrefix(".") && SafeName.isSafe($0) && FileSystem.isDirectory(path($0))
        }
    }

    private func describe(id: String, name: String, queued: Date, submitter: String?, terms: HubJobTerms) throws -> (job: HubJob, refusal: String?) {
        let file = jobPath(id)
        let (replicas, maxReplicas, leaseLimit, tags, refusal) = terms.of(job: file)
        var job = HubJob(id: id, job: name, submitter: submitter, queued: queued, sha256: try BuildImage.sha256(ofFile: file),
                         size: try FileSystem.size(of: file), replicas: replicas, maxReplicas: maxReplicas, leaseLimit: leaseLimit)
        job.tags = tags
        return (job, refusal)
    }

    private func writeNote(_ note: Note, id: String) throws {
        try FileSystem.writeDurably(try JobResult.jsonEncoder().encode(note), to: "\(path(id))/\(Self.noteFile)", mode: 0o600)
    }
}
