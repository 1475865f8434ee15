import Synchronization

/// How long one job's VM has been paused (`run --pause-when-busy`, `--pause-on-battery`,
/// `--window-end pause`): its timeout is pushed back by that much, since a paused guest makes
/// no progress, and result.json reports it (`durations.paused`).
package final class PauseClock: Sendable {
    private struct State {
        var since: ContinuousClock.Instant?
        var total: Duration = .zero
    }

    private let state = Mutex(State())

    package init() {}

    /// Whether the VM is paused now.
    package var isPaused: Bool { state.withLock { $0.since != nil } }

    /// The time spent paused up to `now`, the pause under way included.
    package func paused(at now: ContinuousClock.Instant = .now) -> Duration {
        state.withLock { state in state.total + (state.since.map { now - $0 } ?? .zero) }
    }

    /// The VM was paused at `now`; harmless when it already was.
    package func pause(at now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            if state.since == nil { state.since = now }
        }
    }

    /// The VM runs again from `now`; harmless when it was not paused.
    package func resume(at now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            guard let since = state.since else { return }
            state.total += now - since
            state.since = nil
        }
    }
}
