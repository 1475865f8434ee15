import ConstruirSystem
import Foundation
import HubAPI
import HubStore
import JobModel

/// Brings a hub directory of the file-based releases (each lease in `ID/lease.json`, the runners'
/// record in `.reputation.json`) into the store, once, losing no lease, no finished job waiting
/// for done/ and no reputation.
///
/// Each file is renamed `.imported` only after the store committed what it held, so a hub that
/// stops halfway imports the rest at its next start and nothing twice: jobs by their id, the
/// reputation by a setting written in the same transaction as its counts.
enum HubLegacyImport {
    /// The old lease.json, read only here.
    private struct Lease: Decodable {
        struct Hold: Decodable {
            var holder: String
            var serial: Int
            var attempt: Int
            var claimed: Date
            var expires: Date
            var finishing: Bool?
        }
        var id: String
        var job: String
        var queued: Date
        var sha256: String
        var size: Int64
        var replicas: Int
        var handedOut: Int
        var failures: Int
        var lastFailure: String?
        var holds: [Hold]
        var results: [HubJob.Replica]
        var finishing: Bool?
    }

    private struct Reputation: Decodable {
        var runners: [String: HubStatus.Reputation]
    }

    static let reputationSetting = "imported .reputation.json"

    /// What the directory holds of the old format; blocking.
    static func scan(_ blobs: HubBlobs) throws -> (jobs: [HubJob], files: [String]) {
        var jobs: [HubJob] = []
        var files: [String] = []
        for id in blobs.entries() {
            let leaseFile = "\(blobs.path(id))/lease.json"
            let resultFile = "\(blobs.path(id))/\(JobFiles.result)"
            if let data = FileManager.default.contents(atPath: leaseFile) {
                let lease: Lease
                do {
                    lease = try JobResult.jsonDecoder().decode(Lease.self, from: data)
                } catch {
                    throw ConstruirError(.invalidArgument, "cannot import the lease \(leaseFile)", cause: error)
                }
                jobs.append(job(from: lease))
                files.append(leaseFile)
            } else if let result = try? JobResult.decode(Data(contentsOf: URL(fileURLWithPath: resultFile))),
                      !FileSystem.exists("\(blobs.path(id))/\(HubBlobs.noteFile)") {
                // Finished, waiting for room in done/.
                var job = HubJob(id: id, job: result.job, queued: result.timestamps.queued, sha256: "",
                                 size: result.sizes.job)
                job.end(status: result.status, now: result.timestamps.finished)
                jobs.append(job)
            }
        }
        return (jobs, files)
    }

    private static func job(from lease: Lease) -> HubJob {
        var job = HubJob(id: lease.id, job: lease.job, queued: lease.queued, sha256: lease.sha256, size: lease.size,
                         replicas: lease.replicas)
        job.handedOut = lease.handedOut
        job.failures = lease.failures
        job.lastFailure = lease.lastFailure
        job.holds = lease.holds.map {
            HubJob.Hold(holder: $0.holder, serial: $0.serial, attempt: $0.attempt, claimed: $0.claimed, expires: $0.expires,
                        finishing: $0.finishing == true ? $0.claimed : nil)
        }
        job.results = lease.results
        job.state = lease.finishing == true ? .finishing : .held
        job.finishingSince = lease.finishing == true ? lease.queued : nil
        return job
    }

    /// Imports what `blobs` holds of the old format into `store`; returns how many jobs it took.
    static func run(_ blobs: HubBlobs, into store: any HubStore, blocking: HubBlocking) async throws -> Int {
        let (jobs, files) = try await blocking.run { try scan(blobs) }
        if !jobs.isEmpty { try await store.add(jobs) }
        try await blocking.run {
            for file in files { try FileSystem.renameReplacing(file, file + ".imported") }
        }
        let reputationFile = "\(blobs.directory)/.reputation.json"
        if let data = try await blocking.run({ FileManager.default.contents(atPath: reputationFile) }) {
            let records: [String: HubStatus.Reputation]
            do {
                records = try JobResult.jsonDecoder().decode(Reputation.self, from: data).runners
            } catch {
                throw ConstruirError(.invalidArgument, "cannot import the hub's reputation file \(reputationFile)", cause: error)
            }
            try await store.importReputation(records, once: reputationSetting)
            try await blocking.run { try FileSystem.renameReplacing(reputationFile, reputationFile + ".imported") }
        }
        return jobs.count
    }
}
