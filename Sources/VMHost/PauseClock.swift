import Synchronization

/// How long one job's VM has been paused (`run --pause-when-busy`, `--pause-on-battery`,
/// `--window-end pause`): its timeout is pushed back by that much, since a paused guest makes
/// no progress, and result.json reports it (`durations.paused`).
public final class PauseClock: Sendable {
    private struct State {
        var since: ContinuousClock.Instant?
        var total: Duration = .zero
    }

    private let state = Mutex(State())

    public init() {}

    /// Whether the VM is paused now.
    public var isPaused: Bool { state.withLock { $0.since != nil } }

    /// The time spent paused up to `now`, the pause under way included.
    public func paused(at now: ContinuousClock.Instant = .now) -> Duration {
        state.withLock { state in state.total + (state.since.map { now - $0 } ?? .zero) }
    }

    /// The VM was paused at `now`; harmless when it already was.
    public func pause(at now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            if state.since == nil { state.since = now }
        }
    }

    /// The VM runs again from `now`; harmless when it was not paused.
    public func resume(at now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            guard let since = state.since else { return }
            state.total += now - since
            state.since = nil
        }
    }
}
