import CLibvirt
import ConstruirSystem
import Foundation
import Logging

/// The first stop event of one domain, delivered from libvirt's event thread to one waiter.
final class StopSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var reason: StopReason?
    private var continuation: CheckedContinuation<StopReason, Never>?

    func fire(_ value: StopReason) {
        lock.lock()
        guard reason == nil else { lock.unlock(); return }
        reason = value
        let waiting = continuation
        continuation = nil
        lock.unlock()
        waiting?.resume(returning: value)
    }

    func wait() async -> StopReason {
        await withCheckedContinuation { continuation in
            lock.lock()
            if let reason {
                lock.unlock()
                continuation.resume(returning: reason)
            } else {
                self.continuation = continuation
                lock.unlock()
            }
        }
    }
}
