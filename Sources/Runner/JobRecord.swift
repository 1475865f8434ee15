import Foundation
import JobModel

/// The result.json a job's run fills in step by step, from claim to classification.
struct JobRecord {
    var result: JobResult
    let started: Date

    init(job: ClaimedJob, defaultImage: Int, jobSize: Int64, started: Date = Date()) {
        self.started = started
        result = JobResult(
            job: job.name.fileName, name: job.name.name, status: .error, exitCode: nil, error: nil,
            image: JobResult.Image(index: job.name.image(default: defaultImage), sha256: nil),
            timestamps: .init(queued: job.queuedAt, started: started, finished: started),
            durations: .init(wait: started.timeIntervalSince(job.queuedAt), total: 0),
            sizes: .init(job: jobSize),
            limits: nil,
            runner: "construir \(construirVersion)")
        result.attempt = job.attempt
    }

    /// The result as it ends with `status`, `error` added to any it has, times taken now.
    mutating func finish(_ status: JobResult.Status, error: String? = nil) -> JobResult {
        result.status = status
        if let error { result.error = error }
        result.timestamps.finished = Date()
        result.durations.total = result.timestamps.finished.timeIntervalSince(started)
        return result
    }
}
