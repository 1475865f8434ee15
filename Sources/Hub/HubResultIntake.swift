import Archive
import ConstruirSystem
import Foundation
import HubAPI
import JobModel
import Runner

/// Turns what runners uploaded for a job into a done/ directory, trusting none of it.
///
/// Each runner holding the job sends the console log and the output archive (each capped while
/// it streams in, see `HubServer`), then its result. The hub extracts the archive itself with
/// the runner's own safe extractor into `replicas/RUNNER/`, computes its `OutputDigest`, and
/// writes that replica's result.json itself (status and exit code as the runner reported them,
/// sizes as measured here, no path from the runner). A runner that reports `error`, or whose
/// archive does not extract, failed: its place goes to another runner (`HubLeases.record`).
///
/// Once every replica is in, the job is finished: when all agree (status, exit code, output
/// digest) the first replica's output becomes the job's, as a local runner lays it out;
/// otherwise the job is `disputed` and every replica's output stays under `replicas/`.
///
/// Blocking (extraction, hashing, fsync, renames): call it from a thread of its own.
public struct HubResultIntake: Sendable {
    public let leases: HubLeases
    public let publisher: JobPublisher
    public let reputation: HubReputation
    public let extractionLimits: ExtractionLimits
    /// No job's output may be larger than this (`hub serve --max-output-size`).
    public let maxOutputSize: Int64

    /// Where a hold's uploads land inside the lease directory until its result comes. The
    /// hold's serial is in the name, so an upload still streaming from a runner whose hold ran
    /// out never becomes another runner's.
    public static func consoleUpload(serial: Int) -> String { ".console.upload.\(serial)" }
    public static func outputUpload(serial: Int) -> String { ".output.upload.\(serial)" }
    /// Each replica's output, console log and result.json, under the lease directory.
    public static let replicasDirectory = "replicas"
    /// The longest `error` text kept from a runner.
    static let maxErrorLength = 4096

    public init(leases: HubLeases, done: DoneStore, reputation: HubReputation, extractionLimits: ExtractionLimits = ExtractionLimits(),
                maxOutputSize: Int64 = 4 << 30) {
        self.leases = leases
        self.publisher = JobPublisher(done: done)
        self.reputation = reputation
        self.extractionLimits = extractionLimits
        self.maxOutputSize = maxOutputSize
    }

    /// The largest output archive the job may send: the output disk a runner with default
    /// options gives it (the manifest's `output_size`, at least the job's size and 1 MiB), and
    /// no more than `maxOutputSize`.
    public func outputCap(ofLease id: String) throws(ConstruirError) -> Int64 {
        let job = "\(leases.path(id))/job.tar.xz"
        let inspection = try JobImageInspector.inspect(job)
        let manifest = try inspection.manifest.map { bytes throws(ConstruirError) in try JobManifest.parse(bytes) }
        let jobSize = (try? FileSystem.size(of: job)) ?? 0
        let size = max(manifest?.outputSize ?? 0, jobSize, 1 << 20)
        return min(JobExecutor.roundUp(size, to: 4096), maxOutputSize)
    }

    /// What became of a result.
    public struct Outcome: Sendable {
        public var receipt: HubReceipt
        /// Why the runner's upload was refused (its hold then failed); nil if accepted.
        public var refusal: String?
        /// Whether this result finished the job (the last replica came in).
        public var finishedJob = false
    }

    /// Takes in the result `holder` reported for job `id`. Throws `HubLeases.NotHeld` when the
    /// job is not (or no longer) held by that runner: then nothing changes.
    public func finish(id: String, holder: String, reported: JobResult) throws -> Outcome {
        let held = try leases.beginFinishing(id: id, holder: holder)
        let directory = leases.path(id)
        let replicas = "\(directory)/\(Self.replicasDirectory)"
        let staging = "\(replicas)/.\(holder).\(held.serial)"
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
        var refusal: String?
        let output = "\(directory)/\(Self.outputUpload(serial: held.serial))"
        if FileSystem.exists(output) {
            do {
                let summary = try OutputExtractor.extract(disk: output, to: "\(staging)/output",
                                                          keepingArchiveAt: "\(staging)/output.tar.xz", limits: extractionLimits)
                result.sizes.outputArchive = summary.compressedLength
                result.sizes.outputFiles = summary.bytesWritten
                result.sizes.outputEntries = summary.entries
                result.outputDigest = try OutputDigest.of(archive: "\(staging)/output.tar.xz")
            } catch {
                refusal = "the output of runner \(holder) was refused: \(error)"
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
            let lease = try fail(held, error: result.error ?? "runner \(holder) reported an error")
            let next = lease.failures < leases.maxAttempts ? "(handed to another runner)" : "(ends in error: \(lease.failures) runner(s) failed it)"
            return Outcome(receipt: HubReceipt(job: lease.job, location: next, status: result.status.rawValue),
                           refusal: refusal)
        }
        fill(&result, lease: held.lease, attempt: held.attempt, runner: holder)
        let console = "\(directory)/\(Self.consoleUpload(serial: held.serial))"
        if FileSystem.exists(console) { try FileSystem.renameReplacing(console, "\(staging)/console.log") }
        result.sizes.consoleLog = try? FileSystem.size(of: "\(staging)/console.log")
        try FileSystem.writeDurably(try result.encoded(), to: "\(staging)/result.json", mode: 0o600)
        let place = "\(replicas)/\(holder)"
        try? FileManager.default.removeItem(atPath: place)
        try FileSystem.renameReplacing(staging, place)
        let replica = HubLease.Replica(runner: holder, serial: held.serial, attempt: held.attempt, status: result.status,
                                       exitCode: result.exitCode, outputDigest: result.outputDigest)
        let lease = try leases.record(id: id, holder: holder, replica: replica, failure: nil)
        guard lease.isComplete else {
            let waiting = lease.replicas - lease.results.count
            return Outcome(receipt: HubReceipt(job: lease.job, location: "(waiting for \(waiting) more runner(s) to agree)",
                                               status: result.status.rawValue), refusal: nil)
        }
        return Outcome(receipt: try complete(lease), refusal: nil, finishedJob: true)
    }

    /// Ends `held` as a failure (its runner sent more than allowed, or an error): the job goes
    /// to another runner, or ends in error once it failed `maxAttempts` times.
    @discardableResult
    public func fail(_ held: HubHold, error: String) throws -> HubLease {
        for upload in [Self.consoleUpload(serial: held.serial), Self.outputUpload(serial: held.serial)] {
            try? FileManager.default.removeItem(atPath: "\(leases.path(held.id))/\(upload)")
        }
        let lease = try leases.record(id: held.id, holder: held.holder, replica: nil, failure: String(error.prefix(Self.maxErrorLength)))
        try reputation.count(.error, for: [held.holder])
        return lease
    }

    /// Finishes a job whose every replica is in: compares them, lays out the directory as done/
    /// wants it, writes result.json, ends the lease and publishes. Safe to run again on a job a
    /// stopped hub left halfway (`HubLeases.awaitingCompletion()`).
    public func complete(_ lease: HubLease) throws -> HubReceipt {
        let directory = leases.path(lease.id)
        let replicasPath = "\(directory)/\(Self.replicasDirectory)"
        let replicas = lease.results.sorted { $0.serial < $1.serial }
        guard let first = replicas.first else { throw HubLeases.NotHeld(id: lease.id) }
        let agreed = replicas.allSatisfy { $0.agrees(with: first) }
        let runners = replicas.map(\.runner)
        var result = JobPublisher.readResult("\(replicasPath)/\(first.runner)/result.json")
            ?? JobPublisher.readResult("\(directory)/\(Self.firstReplicaResult)")
            ?? JobResult.notRun(claimedJob(lease), status: first.status, defaultImage: 0, error: "")
        try? FileSystem.writeDurably(try result.encoded(), to: "\(directory)/\(Self.firstReplicaResult)", mode: 0o600)
        let quorum = JobResult.Quorum(state: agreed ? .agreed : .disputed, replicas: replicas.map {
            .init(runnerID: $0.runner, status: $0.status, exitCode: $0.exitCode, outputDigest: $0.outputDigest, attempt: $0.attempt)
        })
        if agreed {
            for name in ["output", "output.tar.xz", "console.log"] where FileSystem.exists("\(replicasPath)/\(first.runner)/\(name)") {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(name)")
                try FileSystem.renameReplacing("\(replicasPath)/\(first.runner)/\(name)", "\(directory)/\(name)")
            }
            if lease.replicas > 1 { result.quorum = quorum }
        } else {
            result.status = .disputed
            result.exitCode = nil
            result.outputDigest = nil
            result.sizes.outputArchive = nil
            result.sizes.outputFiles = nil
            result.sizes.outputEntries = nil
            result.sizes.consoleLog = nil
            result.quorum = quorum
            result.error = "the \(replicas.count) runners disagree: "
                + replicas.map { "\($0.runner) \($0.status.rawValue) exit \($0.exitCode.map(String.init) ?? "-") output \($0.outputDigest?.prefix(12) ?? "none")" }
                    .joined(separator: "; ")
                + "; each one's output is in \(Self.replicasDirectory)/RUNNER/"
        }
        result.runnerID = agreed ? first.runner : runners.joined(separator: ",")
        fill(&result, lease: lease, attempt: first.attempt, runner: result.runnerID)
        tidy(directory, keepingReplicas: !agreed)
        try FileSystem.writeDurably(try result.encoded(), to: "\(directory)/result.json")
        if lease.replicas > 1 { try reputation.count(agreed ? .agreed : .disputed, for: runners) }
        try leases.endLease(id: lease.id)
        try? FileManager.default.removeItem(atPath: "\(directory)/\(Self.firstReplicaResult)")
        let location = (try? publisher.publish(claimedJob(lease), result: result).directory).map { ($0 as NSString).lastPathComponent }
        return HubReceipt(job: lease.job, location: location ?? "(waiting for space in done/)", status: result.status.rawValue)
    }

    /// The first replica's result.json, kept while a job is finished so that a second run of
    /// `complete` after a crash still has it once the replica's directory is gone.
    static let firstReplicaResult = ".first-replica.json"

    /// Ends job `id` as `error` without comparing results (its holds failed too often). What
    /// replicas already reported stays under `replicas/`.
    public func finishAsError(id: String, error: String) throws -> HubReceipt {
        let lease = try leases.beginFinishingJob(id: id)
        let job = claimedJob(lease)
        var result = JobResult.notRun(job, status: .error, defaultImage: 0, error: error)
        result.runner = "construir hub \(construirVersion)"
        fill(&result, lease: lease, attempt: lease.failures, runner: nil)
        tidy(leases.path(lease.id), keepingReplicas: true)
        try FileSystem.writeDurably(try result.encoded(), to: job.resultPath)
        try leases.endLease(id: lease.id)
        let location = (try? publisher.publish(job, result: result).directory).map { ($0 as NSString).lastPathComponent }
        return HubReceipt(job: lease.job, location: location ?? "(waiting for space in done/)", status: result.status.rawValue)
    }

    /// Moves a finished lease directory (result.json, no lease) to done/; returns its place there.
    public func publish(directory: String) throws -> String {
        let result = JobPublisher.readResult("\(directory)/result.json")
        let name = result.flatMap { JobName(fileName: $0.job) } ?? JobName(fileName: "recovered.tar.xz")!
        let job = ClaimedJob(name: name, directory: directory, queuedAt: result?.timestamps.queued ?? Date())
        return try publisher.publish(job, result: result).directory
    }

    /// The result `held`'s runner had sent when the hub stopped while taking it in, if the hub
    /// had kept it (for `HubLeases.recover`).
    public func keptReplica(_ held: HubHold) -> HubLease.Replica? {
        let path = "\(leases.path(held.id))/\(Self.replicasDirectory)/\(held.holder)/result.json"
        guard let result = JobPublisher.readResult(path), result.attempt == held.attempt else { return nil }
        return HubLease.Replica(runner: held.holder, serial: held.serial, attempt: held.attempt, status: result.status,
                                exitCode: result.exitCode, outputDigest: result.outputDigest)
    }

    /// What the hub, not the runner, says about a job in its result.json.
    private func fill(_ result: inout JobResult, lease: HubLease, attempt: Int, runner: String?) {
        let job = claimedJob(lease)
        result.job = lease.job
        result.name = job.name.name
        result.timestamps.queued = lease.queued
        result.attempt = max(attempt, 1)
        result.runnerID = runner
        result.sizes.job = lease.size
        if FileSystem.exists("\(leases.path(lease.id))/console.log") {
            result.sizes.consoleLog = try? FileSystem.size(of: "\(leases.path(lease.id))/console.log")
        }
    }

    /// Removes uploads of failed holds and staging leftovers; the replicas' directories too
    /// unless they are the job's record (disputed, or ended in error).
    private func tidy(_ directory: String, keepingReplicas: Bool) {
        let replicas = "\(directory)/\(Self.replicasDirectory)"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix(".console.upload.") || name.hasPrefix(".output.upload.") {
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

    private func claimedJob(_ lease: HubLease) -> ClaimedJob {
        let name = JobName(fileName: lease.job) ?? JobName(fileName: "recovered.tar.xz")!
        return ClaimedJob(name: name, directory: leases.path(lease.id), queuedAt: lease.queued, attempt: max(lease.failures + 1, 1))
    }
}
