import JobModel

/// Why a job's steps end before the last: with a status for its result, or given back to the
/// source because the runner is stopping.
enum JobStop: Error {
    case ended(JobResult.Status, String?)
    case interrupted

    static func ended(_ status: JobResult.Status) -> JobStop { .ended(status, nil) }
}
