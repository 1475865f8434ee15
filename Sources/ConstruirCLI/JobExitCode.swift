import ArgumentParser
import Foundation
import JobModel
import Runner

/// The exit codes of `run-once` and `result`, derived from the job's status so scripts can
/// branch on them (docs/observability.md).
package enum JobExitCode {
    package static func code(for status: JobResult.Status) -> Int32 {
        switch status {
        case .passed, .passedWithFailures: 0
        case .failed: 1
        case .timedOut: 2
        case .error: 3
        case .rejected: 4
        case .disputed: 6
        case .killed: 7
        }
    }

    /// The job has no result (yet): it is queued or running, or run-once was interrupted.
    package static let noResult: Int32 = 5
    /// construir itself could not do what was asked (no such job, cannot start, ...).
    package static let construirFailed: Int32 = 70
}

/// Reports an error on standard error and exits with `JobExitCode.construirFailed`.
func fail(_ command: String, _ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("construir \(command): error: \(message)\n".utf8))
    return ExitCode(JobExitCode.construirFailed)
}
