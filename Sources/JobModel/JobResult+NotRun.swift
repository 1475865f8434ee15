import ConstruirSystem
import Foundation

extension JobResult {
    /// The result of a job that was not run at all (e.g. too many attempts).
    package static func notRun(_ job: ClaimedJob, status: Status, defaultImage: Int, error: String) -> JobResult {
        let now = Date()
        var result = JobResult(
            job: job.name.fileName, name: job.name.name, status: status, exitCode: nil, error: error,
            image: Image(index: job.name.image(default: defaultImage), sha256: nil),
            timestamps: Timestamps(queued: job.queuedAt, started: now, finished: now),
            durations: Durations(wait: now.timeIntervalSince(job.queuedAt), total: 0),
            sizes: Sizes(job: (try? FileSystem.size(of: job.jobPath)) ?? 0), limits: nil,
            runner: "construir \(construirVersion)")
        result.attempt = job.attempt
        return result
    }
}
