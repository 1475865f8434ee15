import JobModel
import VMHost

/// How a job ended, from how its VM stopped and what the guest and the runner found: the
/// classify step, a pure function of what the steps before it collected.
struct JobEnding: Equatable {
    var status: JobResult.Status
    var error: String?

    /// - Parameters:
    ///   - problems: what collecting found wrong (an unreadable status disk, a bad output).
    ///   - stages: each stage's result, for a stages job.
    static func classify(stop: StopReason, guest: GuestStatus?, problems: [String], stages: [StageResult]?,
                         timeout: Duration) -> JobEnding {
        let problem = problems.isEmpty ? nil : problems.joined(separator: "; ")
        let also = problem.map { "; \($0)" } ?? ""
        switch (stop, guest?.state) {
        case (.timedOut, _):
            return .init(status: .timedOut, error: "timed out after \(Units.format(timeout))" + also)
        case (.limitExceeded(let reason), _):
            return .init(status: .error, error: "\(reason): the VM was destroyed" + also)
        case (.killed, _):
            // What the guest wrote so far is kept; an empty or partial output is only noted.
            return .init(status: .killed, error: KillRequest.killedWhileRunning + also)
        case (_, .finished?):
            if let problem { return .init(status: .error, error: problem) }
            guard guest?.exitCode == 0 else { return .init(status: .failed) }
            let allowedFailures = (stages ?? []).filter { $0.status == .failed && $0.allowFailure }.map(\.name)
            if !allowedFailures.isEmpty {
                return .init(status: .passedWithFailures, error: "stages allowed to fail failed: \(allowedFailures.joined(separator: ", "))")
            }
            return .init(status: .passed)
        case (_, .error?):
            return .init(status: .error, error: "guest agent: \(guest?.error ?? "unspecified error")")
        case (_, .running?):
            return .init(status: .error, error: "the VM \(stop) while the job was running" + also)
        case (_, .waiting?):
            return .init(status: .error, error: "the warm VM \(stop) before it took the job" + also)
        case (_, nil):
            return .init(status: .error, error: "the VM \(stop) without reporting a result" + also)
        }
    }
}
