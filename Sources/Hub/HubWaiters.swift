import Synchronization

/// The runners' long polls: each waits here, holding no thread, until the hub may have work
/// for it (`notify`: a file arrived in the queue, a lease ran out or was given back) or its
/// time is up.
///
/// A waiter first reads `generation`, then looks for work, then waits for a generation after
/// the one it read: work that arrives between the look and the wait still wakes it.
package final class HubWaiters: Sendable {
    private enum Waiter {
        case registered
        case waiting(CheckedContinuation<Void, Never>)
        case cancelled
    }
    private struct State {
        var closed = false
        var generation: UInt64 = 0
        var nextID: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
    }
    private let state = Mutex(State())

    package init() {}

    package var generation: UInt64 { state.withLock { $0.generation } }

    /// How many requests are waiting now (the page and /metrics show it).
    package var count: Int { state.withLock { $0.waiters.count } }

    /// Whether the hub is stopping: then no request waits any more.
    package var isClosed: Bool { state.withLock { $0.closed } }

    /// The hub is stopping: every waiter returns now, and later ones do not wait, so that
    /// open long polls do not hold the shutdown up for their whole length.
    package func close() {
        state.withLock { $0.closed = true }
        notify()
    }

    /// Wakes every waiter.
    package func notify() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation &+= 1
            var woken: [CheckedContinuation<Void, Never>] = []
            for (id, waiter) in state.waiters {
                if case .waiting(let continuation) = waiter {
                    woken.append(continuation)
                    state.waiters[id] = nil
                }
            }
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns once the generation is past `seen`, after `timeout`, or when the task is
    /// cancelled (the client went away), whichever comes first.
    package func wait(after seen: UInt64, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForNotify(after: seen) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForNotify(after seen: UInt64) async {
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            state.waiters[state.nextID] = .registered
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if case .cancelled = state.waiters[id] {
                        state.waiters[id] = nil
                        return true
                    }
                    if state.generation != seen || state.closed {
                        state.waiters[id] = nil
                        return true
                    }
                    state.waiters[id] = .waiting(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
                switch state.waiters[id] {
                case .waiting(let continuation):
                    state.waiters[id] = nil
                    return continuation
                case .registered:
                    state.waiters[id] = .cancelled
                    return nil
                case .cancelled, nil:
                    return nil
                }
            }
            continuation?.resume()
        }
    }
}
