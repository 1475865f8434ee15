import CLibvirt
import ConstruirSystem
import Foundation

/// One running job VM. It ends in exactly one way: the guest powers off, the domain stops for
/// another reason, or the timeout fires and the domain is destroyed.
public final class VirtualMachine: @unchecked Sendable {
    public let name: String
    private let domain: virDomainPtr
    private let signal: StopSignal
    private let router: LifecycleRouter

    init(name: String, domain: virDomainPtr, signal: StopSignal, router: LifecycleRouter) {
        self.name = name
        self.domain = domain
        self.signal = signal
        self.router = router
    }

    deinit {
        router.disarm(name: name)
        virDomainFree(domain)
    }

    /// Waits for the VM to stop, destroying it at `timeout` or when the task is cancelled.
    /// On return QEMU is gone, so the disks can be read. A guest that powered off is destroyed
    /// at once, without waiting the ~2 s libvirt takes to report it stopped.
    public func waitUntilStopped(timeout: Duration) async -> StopReason {
        let signal = self.signal
        let reason = await withTaskGroup(of: StopReason?.self) { group in
            group.addTask { await signal.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .timedOut
            }
            var outcome: StopReason = .stopped(detail: "cancelled")
            for await value in group {
                if let value {
                    outcome = value
                    break
                }
                if Task.isCancelled { break }
            }
            group.cancelAll()
            signal.fire(outcome)  // releases the event waiter when the timeout or a cancellation won
            return outcome
        }
        destroy()
        return reason
    }

    /// Kills QEMU now; harmless when it already stopped.
    public func destroy() {
        if virDomainIsActive(domain) == 1 {
            _ = virDomainDestroy(domain)
        }
    }
}
