import ConstruirSystem
import Foundation
import JobModel
import Logging
import Synchronization
import VMHost

/// Whether a volunteer's runner holds back now, and why. Its `PauseCondition`s set their
/// reasons; the scheduler claims nothing while any reason holds, and each running job follows
/// `suspensions()` to pause and resume its VM.
package final class PauseSwitch: Sendable {
    private struct State {
        var reasons: [PauseReason.Kind: PauseReason] = [:]
        var since: Date?
        var followers: [Int: AsyncStream<Bool>.Continuation] = [:]
        var nextFollower = 0
    }

    private let state = Mutex(State())

    package init() {}

    /// The reasons in force, in `PauseReason.Kind` order.
    package var reasons: [PauseReason] {
        state.withLock { $0.reasons.values.sorted { $0.kind < $1.kind } }
    }

    /// Whether new jobs are held back.
    package var holdsClaims: Bool { state.withLock { !$0.reasons.isEmpty } }

    /// Whether running VMs are to be paused.
    package var suspendsVMs: Bool { state.withLock { $0.reasons.values.contains { $0.suspendsVMs } } }

    /// What the runner shows while it holds back (`RunnerPause`), nil when it does not.
    package func record(runner: String) -> RunnerPause? {
        state.withLock { state in
            guard let since = state.since, !state.reasons.isEmpty else { return nil }
            return RunnerPause(runner: runner, since: since, reasons: state.reasons.values.sorted { $0.kind < $1.kind })
        }
    }

    /// Sets (or with nil clears) the reason of `kind`. True when that changes whether the
    /// runner holds back for this kind or pauses VMs for it; a new detail alone (another
    /// percentage) is kept without counting as a change.
    @discardableResult
    package func set(_ kind: PauseReason.Kind, _ reason: PauseReason?, now: Date = Date()) -> Bool {
        state.withLock { state in
            let before = state.reasons[kind]
            let suspendedBefore = state.reasons.values.contains { $0.suspendsVMs }
            state.reasons[kind] = reason
            if state.reasons.isEmpty { state.since = nil } else if state.since == nil { state.since = now }
            let suspended = state.reasons.values.contains { $0.suspendsVMs }
            // Under the lock, so that followers see the changes in the order they were made.
            if suspended != suspendedBefore {
                for follower in state.followers.values { follower.yield(suspended) }
            }
            return (before == nil) != (reason == nil) || before?.suspendsVMs != reason?.suspendsVMs
        }
    }

    /// Whether running VMs are to be paused: now, then at each change, until the iterating task
    /// is cancelled.
    package func suspensions() -> AsyncStream<Bool> {
        let (stream, continuation) = AsyncStream<Bool>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id = state.withLock { state in
            defer { state.nextFollower += 1 }
            state.followers[state.nextFollower] = continuation
            continuation.yield(state.reasons.values.contains { $0.suspendsVMs })
            return state.nextFollower
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.followers.removeValue(forKey: id) }
        }
        return stream
    }
}

extension PauseSwitch {
    /// Pauses and resumes `machine` as the switch says until cancelled, and keeps `clock` (the
    /// paused time the timeout leaves out). A VM that cannot be paused (it is powering off) runs on.
    func apply(to machine: any JobMachine, clock: PauseClock, logger: Logger) async {
        for await suspend in suspensions() where suspend != clock.isPaused {
            // The clock stops before the VM does and starts after it runs again: a loaded host,
            // when pauses happen, may take a while to get back to this task, and that delay is
            // never charged to the job.
            if suspend { clock.pause() }
            do {
                if suspend { try await machine.suspend() } else { try await machine.resume() }
                if !suspend { clock.resume() }
                logger.info(suspend ? "VM paused" : "VM resumed", metadata: ["paused": "\(Units.format(clock.paused()))"])
            } catch {
                // A VM that did not pause runs on, and one that did not resume is charged from
                // now on, so its timeout still ends it.
                clock.resume()
                logger.warning("cannot \(suspend ? "pause" : "resume") the VM: \(error)")
            }
        }
    }
}
