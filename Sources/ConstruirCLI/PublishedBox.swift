import Runner
import Synchronization

/// The job `run-once`'s runner published, handed over from the runner's task.
final class PublishedBox: Sendable {
    private struct State {
        var job: PublishedJob?
        var ended = false
    }

    private let state = Mutex(State())
    func set(_ job: PublishedJob) { state.withLock { $0.job = job } }
    func get() -> PublishedJob? { state.withLock { $0.job } }
    /// The runner has returned: a job not claimed by now never will be.
    func markRunnerEnded() { state.withLock { $0.ended = true } }
    var runnerEnded: Bool { state.withLock { $0.ended } }
}
