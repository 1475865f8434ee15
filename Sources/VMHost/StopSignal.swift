import Synchronization

/// The first stop event of one domain, delivered from libvirt's event thread to one waiter;
/// and apart from it, libvirt's word that the domain is gone (its QEMU stopped and cleaned up).
final class StopSignal: Sendable {
    private struct State {
        var reason: StopReason?
        var waiter: CheckedContinuation<StopReason?, Never>?
        var cancelled = false
        var ended = false
        var endWaiter: CheckedContinuation<Void, Never>?
        var endCancelled = false
    }

    private let state = Mutex(State())

    func fire(_ value: StopReason) {
        let waiter = state.withLock { state -> CheckedContinuation<StopReason?, Never>? in
            guard state.reason == nil else { return nil }
            state.reason = value
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: value)
    }

    /// The stop once it happened; nil when the task is cancelled before.
    func wait() async -> StopReason? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> StopReason?? in
                    if let reason = state.reason { return .some(reason) }
                    if state.cancelled { return .some(nil) }
                    state.waiter = continuation
                    return .none
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<StopReason?, Never>? in
                state.cancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    /// libvirt stopped the domain (its STOPPED event): nothing of it runs any more.
    func end() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.ended = true
            defer { state.endWaiter = nil }
            return state.endWaiter
        }
        waiter?.resume()
    }

    /// Waits for `end()`: true once it happened, false when the task is cancelled first.
    func waitForEnd() async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.ended || state.endCancelled { return true }
                    state.endWaiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
            return state.withLock { $0.ended }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.endCancelled = true
                defer { state.endWaiter = nil }
                return state.endWaiter
            }
            waiter?.resume()
        }
    }
}
