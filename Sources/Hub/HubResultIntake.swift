import Archive
import ConstruirSystem
import Foundation
import HubAPI
import HubStore
import JobModel

/// Turns what runners uploaded for a job into a done/ directory, trusting none of it.
///
/// Each runner holding the job sends the console log and the output archive (each capped while
/// it streams in, see `HubServer`), then its result. The hub extracts the archive itself with
/// the runner's own safe extractor into `replicas/RUNNER/`, computes its `OutputDigest`, and
/// writes that replica's result.json itself (status and exit code as the runner reported them,
/// sizes as measured here, no path from the runner). A runner that reports `error`, or whose
/// archive does not extract, failed: its place goes to another runner (`HubJob.record`).
///
/// The digest covers only the paths the job's own manifest says to compare (`compare:`, read
/// from the job file the hub holds, never from the runner). Once every replica is in, the job
/// is finished: when all, or a strict majority, agree (status, exit code, output digest) the
/// first agreeing replica's output becomes the job's, as a local runner lays it out;
/// otherwise the job is `disputed`, naming the compared paths that differ. Every replica's
/// console and result.json stay under `replicas/RUNNER/`, and so does the output of every
/// replica that did not agree.
///
/// State changes go through the store, one transition each; file work (extraction, hashing,
/// fsync, renames) runs on `HubBlocking`, never inside a store transaction.
package struct HubResultIntake: Sendable {
    package let store: any HubStore
    package let blobs: HubBlobs
    package let publisher: JobPublisher
    package let extractionLimits: ExtractionLimits
    /// No job's output may be larger than this (`hub serve --max-output-size`).
    package let maxOutputSize: Int64
    /// Each job's end goes into the outbox, for `hub serve --webhook`.
    package let announcing: Bool
    private let blocking = HubBlocking()

    /// Where a hold's uploads land inside the job's directory until its result comes. The
    /// hold's serial is in the name, so an upload still streaming from a runner whose hold ran
    /// out never becomes another runner's.
    package static func consoleUpload(serial: Int) -> String { ".console.upload.\(serial)" }
    package static func outputUpload(serial: Int) -> String { ".output.upload.\(serial)" }
    /// The console a hold's runner appends while the job runs, for its submitter to follow; the
    /// final upload replaces it.
    package static func consoleLive(serial: Int) -> String { ".console.live.\(serial)" }
    /// Each replica's output, console log and result.json, under the job's directory.
    package static let replicasDirectory = "replicas"
    /// The longest `error` text kept from a runner.
    static let maxErrorLength = 4096

    package init(store: any HubStore, blobs: HubBlobs, done: DoneStore, extractionLimits: ExtractionLimits = ExtractionLimits(),
                maxOutputSize: Int64 = 4 << 30, announcing: Bool = false) {
        self.announcing = announcing
        self.store = store
        self.blobs = blobs
        self.publisher = JobPublisher(done: done)
        self.extractionLimits = extractionLimits
        self.maxOutputSize = maxOutputSize
    }

    /// The largest output archive the job may send: the output disk a runner with default
    /// options gives it (the manifest's `output_size`, at least the job's size and 1 MiB), and
    /// no more than `maxOutputSize`. Blocking.
    package func outputCap(ofJob id: String) throws(ConstruirError) -> Int64 {
        let job = blobs.jobPath(id)
        guard FileSystem.exists(job) else { throw ConstruirError(.notFound, "the hub has no job file for \(id)") }
        let manifest = HubJobTerms.manifest(ofJob: job)
        let jobSize = (try? FileSystem.size(of: job)) ?? 0
        let size = max(manifest?.outputSize ?? 0, jobSize, 1 << 20)
        return min(Units.roundUp(size, to: 4096), maxOutputSize)
    }

    /// What became of a result.
    package struct Outcome: Sendable {
        package var receipt: HubReceipt
        /// Why the runner's upload was refused (its hold then failed); nil if accepted.
        package var refusal: String?
        /// Whether this result finished the job (the last replica came in).
        package var finishedJob = false
    }

    /// Takes in the result `holder` reported for job `id`. Throws `HubNotHeld` when the job is
    /// not (or no longer) held by that runner: then nothing changes.
    package func finish(id: String, holder: String, reported: JobResult, now: Date = Date()) async throws -> Outcome {
        let held = try await store.update(id) { job, _ in HubHold(job: job, hold: try job.beginFinishing(holder: holder, now: now)) }
        let (result, refusal) = try await blocking.run { try self.stage(held, reported: reported) }
        if result.status == .error {
            let job = try await fail(held, error: result.error ?? "runner \(holder) reported an error")
            let next = job.state == .held ? "(handed to another runner)" : "(ends in error: \(job.failures) runner(s) failed it)"
            return Outcome(receipt: HubReceipt(job: job.job, location: next, status: .init(result.status)), refusal: refusal)
        }
        let replica = HubJob.Replica(runner: holder, serial: held.serial, attempt: held.attempt, status: result.status,
                                     exitCode: result.exitCode, outputDigest: result.outputDigest)
        let job = try await store.update(id) { job, outcomes in
            try job.record(holder: holder, replica: replica, failure: nil, now: Date())
            outcomes.add(.delivered, for: [holder])
            return job
        }
        guard job.state == .finishing else {
            let waiting = job.replicas - job.results.count
            return Outcome(receipt: HubReceipt(job: job.job, location: "(waiting for \(waiting) more runner(s) to agree)",
                                               status: .init(result.status)), refusal: nil)
        }
        return Outcome(receipt: try await complete(job), refusal: nil, finishedJob: true)
    }

    /// Extracts and checks what `held`'s runner uploaded into `replicas/.RUNNER.SERIAL`, then
    /// (unless it failed) moves it to `replicas/RUNNER/` with the result.json the hub writes.
    private func stage(_ held: HubHold, reported: JobResult) throws -> (JobResult, String?) {
        let directory = blobs.path(held.id)
        let replicas = "\(directory)/\(Self.replicasDirectory)"
        let staging = "\(replicas)/.\(held.holder).\(held.serial)"
        try PrivateDirectory.make(replicas)
        try? FileManager.default.removeItem(atPath: staging)
        try PrivateDirectory.make(staging)
        var result = reported
        result.error = reported.error.map { String($0.prefix(Self.maxErrorLength)) }
        result.runner = String(reported.runner.prefix(200))
        result.sizes.outputArchive = nil
        result.sizes.outputFiles = nil
        result.sizes.outputEntries = nil
        result.outputDigest = nil
        result.quorum = nil
        result.comparison = nil
        var refusal: String?
        let output = "\(directory)/\(Self.outputUpload(serial: held.serial))"
        if FileSystem.exists(output) {
            do {
                let summary = try OutputExtractor.extract(disk: output, to: "\(staging)/\(JobFiles.output)",
                                                          keepingArchiveAt: "\(staging)/\(JobFiles.outputArchive)", limits: extractionLimits)
                result.sizes.outputArchive = summary.compressedLength
                result.sizes.outputFiles = summary.bytesWritten
                result.sizes.outputEntries = summary.entries
                let comparison = comparison(ofJob: held.id)
                let digest = try OutputDigest.summary(archive: "\(staging)/\(JobFiles.outputArchive)", comparing: comparison)
                result.outputDigest = digest.digest
                result.comparison = JobResult.Comparison(patterns: comparison.patterns, compared: digest.compared, leftOut: digest.leftOut)
            } catch {
                refusal = "the output of runner \(held.holder) was refused: \(error)"
            }
            try? FileManager.default.removeItem(atPath: output)
        }
        if let refusal {
            result.status = .error
            result.exitCode = nil
            result.error = [refusal, result.error].compactMap { $0 }.joined(separator: "; ")
        }
        if result.status == .error {
            try? FileManager.default.removeItem(atPath: staging)
            return (result, refusal)
        }
        fill(&result, job: held.job, attempt: held.attempt, runner: held.holder)
        let console = "\(directory)/\(Self.consoleUpload(serial: held.serial))"
        if FileSystem.exists(console) { try FileSystem.renameReplacing(console, "\(staging)/\(JobFiles.consoleLog)") }
        result.sizes.consoleLog = try? FileSystem.size(of: "\(staging)/\(JobFiles.consoleLog)")
        try FileSystem.writeDurably(try result.encoded(), to: "\(staging)/\(JobFiles.result)", mode: 0o600)
        let place = "\(replicas)/\(held.holder)"
        try? FileManager.default.removeItem(atPath: place)
        try FileSystem.renameReplacing(staging, place)
        return (result, nil)
    }

    /// What the job's manifest says to compare (the default when it says nothing). Blocking.
    private func comparison(ofJob id: String) -> OutputComparison {
        HubJobTerms.manifest(ofJob: blobs.jobPath(id))?.comparison ?? .default
    }

    /// Ends `held` as a failure (its runner sent more than allowed, or an error), counted
    /// against the runner: the job goes to another runner, or ends in error once it failed
    /// `maxAttempts` times (the hub's maintenance ends it).
    @discardableResult
    package func fail(_ held: HubHold, error: String) async throws -> HubJob {
        let uploads = [Self.consoleUpload(serial: held.serial), Self.outputUpload(serial: held.serial), Self.consoleLive(serial: held.serial)]
            .map { "\(blobs.path(held.id))/\($0)" }
        try await blocking.run { for upload in uploads { try? FileManager.default.removeItem(atPath: upload) } }
        let message = String(error.prefix(Self.maxErrorLength))
        return try await store.update(held.id) { job, outcomes in
            try job.record(holder: held.holder, replica: nil, failure: message, now: Date())
            outcomes.add(.error, for: [held.holder])
            return job
        }
    }

    /// Finishes a job whose every replica is in: compares them, lays out the directory as done/
    /// wants it, writes result.json, ends the job in the store and publishes. Safe to run again
    /// on a job a stopped hub left halfway.
    package func complete(_ job: HubJob) async throws -> HubReceipt {
        guard let verdict = job.verdict else { throw HubNotHeld(id: job.id) }
        let result = try await blocking.run { try self.layOut(job, verdict: verdict) }
        let announcing = self.announcing
        let compared = job.results.count > 1 && job.stopRequested == nil
        try await store.update(job.id) { job, outcomes in
            job.end(status: result.status, now: Date())
            if compared {
                outcomes.add(verdict.state == .agreed ? .agreed : .disputed, for: verdict.majority.map(\.runner))
                outcomes.add(.disputed, for: verdict.dissenters.map(\.runner))
            }
            if announcing { outcomes.announce(job.id) }
        }
        return try await publish(job)
    }

    private func layOut(_ job: HubJob, verdict: HubVerdict) throws -> JobResult {
        let directory = blobs.path(job.id)
        let replicasPath = "\(directory)/\(Self.replicasDirectory)"
        let replicas = job.results.sorted { $0.serial < $1.serial }
        let runners = replicas.map(\.runner)
        let first = verdict.canonical
        let agreed = verdict.state != .disputed
        var result = JobPublisher.readResult("\(replicasPath)/\(first.runner)/\(JobFiles.result)")
            ?? JobPublisher.readResult("\(directory)/\(Self.firstReplicaResult)")
            ?? JobResult.notRun(claimedJob(job), status: first.status, defaultImage: 0, error: "")
        try? FileSystem.writeDurably(try result.encoded(), to: "\(directory)/\(Self.firstReplicaResult)", mode: 0o600)
        var quorum = JobResult.Quorum(state: .init(rawValue: verdict.state.rawValue) ?? .disputed, replicas: replicas.map {
            .init(runnerID: $0.runner, status: $0.status, exitCode: $0.exitCode, outputDigest: $0.outputDigest, attempt: $0.attempt)
        })
        if agreed {
            let canonical = "\(replicasPath)/\(first.runner)"
            for name in [JobFiles.output, JobFiles.outputArchive] where FileSystem.exists("\(canonical)/\(name)") {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
                try FileSystem.renameReplacing("\(canonical)/\(name)", "\(directory)/\(name)")
            }
            if FileSystem.exists("\(canonical)/\(JobFiles.consoleLog)") {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(JobFiles.consoleLog)")
                try FileManager.default.copyItem(atPath: "\(canonical)/\(JobFiles.consoleLog)", toPath: "\(directory)/\(JobFiles.consoleLog)")
            }
            // The outputs that agree are the job's; the outvoted ones stay as evidence.
            for replica in verdict.majority {
                for name in [JobFiles.output, JobFiles.outputArchive] {
                    try? FileManager.default.removeItem(atPath: "\(replicasPath)/\(replica.runner)/\(name)")
                }
            }
            if !verdict.dissenters.isEmpty { quorum.dissenters = verdict.dissenters.map(\.runner) }
            if verdict.state == .trusted { quorum.agreedInARow = job.trust?.agreedInARow }
            if job.results.count > 1 || verdict.state == .trusted { result.quorum = quorum }
        } else {
            result.status = .disputed
            result.exitCode = nil
            result.outputDigest = nil
            result.sizes.outputArchive = nil
            result.sizes.outputFiles = nil
            result.sizes.outputEntries = nil
            result.sizes.consoleLog = nil
            let differing = differingPaths(replicas, in: replicasPath, comparing: result.comparison)
            quorum.differing = Array(differing.prefix(JobResult.Quorum.maxDiffering))
            quorum.differingCount = differing.count
            result.quorum = quorum
            result.error = "the \(replicas.count) runners disagree: "
                + replicas.map { "\($0.runner) \($0.status.rawValue) exit \($0.exitCode.map(String.init) ?? "-") output \($0.outputDigest?.prefix(12) ?? "none")" }
                    .joined(separator: "; ")
                + (differing.isEmpty ? "" : "; compared paths that differ: " + differing.prefix(10).joined(separator: ", ")
                    + (differing.count > 10 ? " and \(differing.count - 10) more (quorum.differing)" : ""))
                + "; each one's output is in \(Self.replicasDirectory)/RUNNER/"
        }
        if job.stopRequested != nil, result.status != .killed {
            result.error = "stopped by its submitter; runner \(first.runner) reported \(result.status.rawValue)"
            result.status = .killed
        }
        result.runnerID = agreed ? first.runner : runners.joined(separator: ",")
        fill(&result, job: job, attempt: first.attempt, runner: result.runnerID)
        tidy(directory, keepingReplicas: job.results.count > 1)
        try FileSystem.writeDurably(try result.encoded(), to: "\(directory)/\(JobFiles.result)")
        try? FileManager.default.removeItem(atPath: "\(directory)/\(Self.firstReplicaResult)")
        return result
    }

    /// The compared paths whose records differ between the replicas' kept archives (each
    /// against the first), under the job's comparison; empty when an archive is missing.
    private func differingPaths(_ replicas: [HubJob.Replica], in replicasPath: String, comparing: JobResult.Comparison?) -> [String] {
        let comparison = comparing.map { OutputComparison(patterns: $0.patterns) } ?? .default
        let summaries = replicas.map { replica -> OutputDigest.Summary? in
            let archive = "\(replicasPath)/\(replica.runner)/\(JobFiles.outputArchive)"
            return FileSystem.exists(archive) ? try? OutputDigest.summary(archive: archive, comparing: comparison) : nil
        }
        guard let first = summaries.first ?? nil else { return [] }
        var differing = Set<String>()
        for case let other? in summaries.dropFirst() { differing.formUnion(first.differing(from: other)) }
        return differing.sorted()
    }

    /// The first replica's result.json, kept while a job is finished so that a second run of
    /// `complete` after a crash still has it once the replica's directory is gone.
    static let firstReplicaResult = ".first-replica.json"

    /// Ends job `id` as `error` without comparing results (its holds failed too often). What
    /// replicas already reported stays under `replicas/`.
    package func finishAsError(id: String, error: String) async throws -> HubReceipt {
        try await finishUnrun(id: id, status: .error, error: error)
    }

    /// Ends job `id` with `status` and no runner's result: it failed too often (`error`), or was
    /// stopped before any runner sent one (`killed`).
    package func finishUnrun(id: String, status: JobResult.Status, error: String) async throws -> HubReceipt {
        let job = try await store.update(id) { job, _ in
            try job.beginFinishingJob(now: Date())
            return job
        }
        let result = try await blocking.run {
            let claimed = self.claimedJob(job)
            var result = JobResult.notRun(claimed, status: status, defaultImage: 0, error: error)
            result.runner = "construir hub \(construirVersion)"
            self.fill(&result, job: job, attempt: job.failures, runner: nil)
            self.tidy(self.blobs.path(job.id), keepingReplicas: true)
            try FileSystem.writeDurably(try result.encoded(), to: claimed.resultPath)
            return result
        }
        let announcing = self.announcing
        try await store.update(id) { job, outcomes in
            job.end(status: result.status, now: Date())
            if announcing { outcomes.announce(job.id) }
        }
        return try await publish(job)
    }

    /// Moves a done job's directory to done/ and records where; a done/ that refuses it leaves
    /// it for the next try (`HubJob.location` stays nil).
    package func publish(_ job: HubJob) async throws -> HubReceipt {
        let directory = blobs.path(job.id)
        // nil: done/ refused it for now; "": already gone from the hub's directory.
        let (status, moved): (JobResult.Status?, String?) = try await blocking.run {
            let result = JobPublisher.readResult("\(directory)/\(JobFiles.result)")
            let status = result?.status ?? job.status
            if let result, let target = try? self.publisher.publish(self.claimedJob(job), result: result).directory {
                return (status, (target as NSString).lastPathComponent)
            }
            return (status, FileSystem.exists(directory) ? nil : "")
        }
        guard let moved else {
            return HubReceipt(job: job.job, location: "(waiting for space in done/)", status: status.map { .init($0) })
        }
        try await store.update(job.id) { job, _ in job.published(as: moved) }
        return HubReceipt(job: job.job, location: moved, status: status.map { .init($0) })
    }

    /// The result `hold`'s runner had sent when the hub stopped while taking it in, if the hub
    /// had kept it (for `HubJob.recover`). Blocking.
    package func keptReplica(_ hold: HubJob.Hold, of id: String) -> HubJob.Replica? {
        let path = "\(blobs.path(id))/\(Self.replicasDirectory)/\(hold.holder)/\(JobFiles.result)"
        guard let result = JobPublisher.readResult(path), result.attempt == hold.attempt else { return nil }
        return HubJob.Replica(runner: hold.holder, serial: hold.serial, attempt: hold.attempt, status: result.status,
                              exitCode: result.exitCode, outputDigest: result.outputDigest)
    }

    /// What the hub, not the runner, says about a job in its result.json.
    private func fill(_ result: inout JobResult, job: HubJob, attempt: Int, runner: String?) {
        let claimed = claimedJob(job)
        result.job = job.job
        result.name = claimed.name.name
        result.timestamps.queued = job.queued
        result.attempt = max(attempt, 1)
        result.runnerID = runner
        result.submitter = job.submitter
        result.sizes.job = job.size
        if FileSystem.exists("\(blobs.path(job.id))/\(JobFiles.consoleLog)") {
            result.sizes.consoleLog = try? FileSystem.size(of: "\(blobs.path(job.id))/\(JobFiles.consoleLog)")
        }
    }

    /// Removes uploads of failed holds, staging leftovers and the inbox note; the replicas'
    /// directories too unless they are the job's record (disputed, or ended in error).
    private func tidy(_ directory: String, keepingReplicas: Bool) {
        let replicas = "\(directory)/\(Self.replicasDirectory)"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix(".console.upload.") || name.hasPrefix(".output.upload.") || name.hasPrefix(".console.live.")
            || name == HubBlobs.noteFile {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
        }
        if !keepingReplicas {
            try? FileManager.default.removeItem(atPath: replicas)
            return
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: replicas)) ?? [] where name.hasPrefix(".") {
            try? FileManager.default.removeItem(atPath: "\(replicas)/\(name)")
        }
    }

    private func claimedJob(_ job: HubJob) -> ClaimedJob {
        let name = JobName(fileName: job.job) ?? JobName(fileName: "recovered.tar.xz")!
        return ClaimedJob(name: name, directory: blobs.path(job.id), queuedAt: job.queued, attempt: max(job.failures + 1, 1))
    }
}
