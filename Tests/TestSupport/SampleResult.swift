import Foundation
import JobModel

/// A result.json as the runner writes it, for trees built by hand.
package func sampleResult(job: String, status: JobResult.Status, exitCode: Int? = nil, finished: Date, total: Double) -> JobResult {
    let name = JobName(fileName: job)!
    return JobResult(
        job: job, name: name.name, status: status, exitCode: exitCode, error: status == .error ? "boom <b>" : nil,
        image: .init(index: name.image(default: 0), sha256: nil),
        timestamps: .init(queued: finished.addingTimeInterval(-total - 1), started: finished.addingTimeInterval(-total), finished: finished),
        durations: .init(wait: 1, total: total), sizes: .init(job: 100), limits: nil, runner: "construir test")
}
