import Archive
import ConstruirSystem
import Foundation
import HubAPI
import JobModel
import Runner

/// Turns what a runner uploaded for its lease into a done/ directory, trusting none of it.
///
/// The runner sends the console log and the output archive (each capped while it streams in,
/// see `HubServer`), then its result. The hub extracts the archive itself with the runner's
/// own safe extractor, writes result.json itself (status and exit code as the named runner
/// reported them, sizes as measured here, no path from the runner), and publishes the lease
/// directory to done/ in the local runner's layout. An archive that does not extract ends the
/// job in `error`, saying why.
///
/// Blocking (extraction, fsync, renames): call it from a thread of its own.
public struct HubResultIntake: Sendable {
    public let leases: HubLeases
    public let publisher: JobPublisher
    public let extractionLimits: ExtractionLimits
    /// No job's output may be larger than this (`hub serve --max-output-size`).
    public let maxOutputSize: Int64

    /// Where an attempt's uploads land inside the lease directory until its result comes. The
    /// attempt is in the name, so an upload still streaming from a runner whose lease ran out
    /// never becomes the next runner's.
    public static func consoleUpload(attempt: Int) -> String { ".console.upload.\(attempt)" }
    public static func outputUpload(attempt: Int) -> String { ".output.upload.\(attempt)" }
    /// The longest `error` text kept from a runner.
    static let maxErrorLength = 4096

    public init(leases: HubLeases, done: DoneStore, extractionLimits: ExtractionLimits = ExtractionLimits(),
                maxOutputSize: Int64 = 4 << 30) {
        self.leases = leases
        self.publisher = JobPublisher(done: done)
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
        /// Why the runner's upload was refused (the job then ended in `error`); nil if accepted.
        public var refusal: String?
    }

    /// Finishes `holder`'s lease `id` with the result it reported. Throws `HubLeases.NotHeld`
    /// when the lease is not (or no longer) that runner's: then nothing changes.
    public func finish(id: String, holder: String, reported: JobResult) throws -> Outcome {
        let lease = try leases.beginFinishing(id: id, holder: holder)
        let directory = leases.path(id)
        var result = reported
        result.error = reported.error.map { String($0.prefix(Self.maxErrorLength)) }
        result.runner = String(reported.runner.prefix(200))
        result.sizes.outputArchive = nil
        result.sizes.outputFiles = nil
        result.sizes.outputEntries = nil
        var refusal: String?
        let output = "\(directory)/\(Self.outputUpload(attempt: lease.attempt))"
        if FileSystem.exists(output) {
            do {
                let summary = try OutputExtractor.extract(disk: output, to: "\(directory)/output",
                                                          keepingArchiveAt: "\(directory)/output.tar.xz", limits: extractionLimits)
                result.sizes.outputArchive = summary.compressedLength
                result.sizes.outputFiles = summary.bytesWritten
                result.sizes.outputEntries = summary.entries
            } catch {
                refusal = "the runner's output was refused: \(error)"
            }
            try? FileManager.default.removeItem(atPath: output)
        }
        if let refusal {
            result.status = .error
            result.exitCode = nil
            result.error = [refusal, result.error].compactMap { $0 }.joined(separator: "; ")
        }
        let receipt = try complete(lease, result: result, holder: holder)
        return Outcome(receipt: receipt, refusal: refusal)
    }

    /// Ends lease `id` as `error` without a result from its runner (its leases ran out too often,
    /// or its runner sent more than allowed).
    public func finishAsError(id: String, error: String) throws -> HubReceipt {
        let lease = try leases.beginFinishing(id: id)
        try? FileManager.default.removeItem(atPath: "\(leases.path(id))/\(Self.outputUpload(attempt: lease.attempt))")
        let job = claimedJob(lease)
        var result = JobResult.notRun(job, status: .error, defaultImage: 0, error: error)
        result.runner = "construir hub \(construirVersion)"
        return try complete(lease, result: result, holder: lease.holder)
    }

    /// Moves a finished lease directory (result.json, no lease) to done/; returns its place there.
    public func publish(directory: String) throws -> String {
        let result = JobPublisher.readResult("\(directory)/result.json")
        let name = result.flatMap { JobName(fileName: $0.job) } ?? JobName(fileName: "recovered.tar.xz")!
        let job = ClaimedJob(name: name, directory: directory, queuedAt: result?.timestamps.queued ?? Date())
        return try publisher.publish(job, result: result).directory
    }

    /// Writes the hub's result.json, ends the lease and publishes the directory.
    private func complete(_ lease: HubLease, result reported: JobResult, holder: String?) throws -> HubReceipt {
        let directory = leases.path(lease.id)
        let job = claimedJob(lease)
        var result = reported
        result.job = lease.job
        result.name = job.name.name
        result.timestamps.queued = lease.queued
        result.attempt = lease.attempt
        result.runnerID = holder
        result.sizes.job = lease.size
        let console = "\(directory)/\(Self.consoleUpload(attempt: lease.attempt))"
        if FileSystem.exists(console) {
            try FileSystem.renameReplacing(console, "\(directory)/console.log")
        }
        result.sizes.consoleLog = try? FileSystem.size(of: "\(directory)/console.log")
        try FileSystem.writeDurably(try result.encoded(), to: job.resultPath)
        try leases.endLease(id: lease.id)
        let location = (try? publisher.publish(job, result: result).directory).map { ($0 as NSString).lastPathComponent }
        return HubReceipt(job: lease.job, location: location ?? "(waiting for space in done/)", status: result.status.rawValue)
    }

    private func claimedJob(_ lease: HubLease) -> ClaimedJob {
        let name = JobName(fileName: lease.job) ?? JobName(fileName: "recovered.tar.xz")!
        return ClaimedJob(name: name, directory: leases.path(lease.id), queuedAt: lease.queued, attempt: max(lease.attempt, 1))
    }
}
