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

    /// Whether QEMU may finish exiting after `waitUntilStopped` returns. Only with the embedded
    /// driver: a daemon restores file ownership when the domain is gone, which must happen
    /// before the job's files move on.
    private let backgroundTeardown: Bool

    /// Whether the memory hard limit of the configuration is in force (see `Hypervisor.start`).
    public internal(set) var memoryHardLimitApplied = false

    /// QEMU's pid when this process adopted it (`Subreaper`) and so must reap it; else nil.
    var adoptedPID: pid_t?

    init(name: String, domain: virDomainPtr, signal: StopSignal, router: LifecycleRouter, backgroundTeardown: Bool) {
        self.backgroundTeardown = backgroundTeardown
        self.name = name
        self.domain = domain
        self.signal = signal
        self.router = router
    }

    deinit {
        router.disarm(name: name)
        virDomainFree(domain)
    }

    /// Waits for the VM to stop, destroying it at `timeout`, when `watchdog` (called every
    /// `interval`) names a limit the guest went over, or when the task is cancelled.
    /// On return the guest can no longer run, so the disks can be read. A guest that powered
    /// off is destroyed in the background at once, without waiting the ~2 s libvirt takes to
    /// report it stopped; `waitForTeardown()` waits for that.
    public func waitUntilStopped(timeout: Duration, watchdog: (@Sendable () -> String?)? = nil,
                                 interval: Duration = .milliseconds(500)) async -> StopReason {
        let signal = self.signal
        let reason = await withTaskGroup(of: StopReason?.self) { group in
            group.addTask { await signal.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .timedOut
            }
            if let watchdog {
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        if Task.isCancelled { return nil }
                        if let reason = watchdog() { return .limitExceeded(reason) }
                    }
                    return nil
                }
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
        if reason == .guestPoweredOff, backgroundTeardown {
            // The guest is halted (QEMU paused on its power-off, block I/O drained), so its
            // disks are final; libvirt's destroy takes ~1.4 s more, which need not delay the result.
            teardown = Task.detached { [self] in await destroyOffPool() }
        } else {
            await destroyOffPool()
        }
        return reason
    }

    private var teardown: Task<Void, Never>?

    /// Waits until QEMU is gone. After `waitUntilStopped` returned `.guestPoweredOff`, QEMU
    /// may still be exiting; call this before starting work that must not overlap it.
    public func waitForTeardown() async {
        if let teardown { await teardown.value } else { await destroyOffPool() }
    }

    /// `destroy()` on a thread of its own: libvirt's destroy blocks for ~1.4 s, which on the
    /// cooperative pool (one thread per core) would stall every timer and the status server.
    private func destroyOffPool() async {
        _ = try? await OwnThread.run("construir-destroy") { [self] in destroy() }
    }

    /// The live I/O throttle of the disk at `target` (e.g. "vda") as QEMU reports it:
    /// (bytes per second, operations per second), or nil when libvirt cannot tell.
    public func diskThrottle(target: String) -> (bytesPerSecond: UInt64, operationsPerSecond: UInt64)? {
        var count: Int32 = 0
        guard virDomainGetBlockIoTune(domain, target, nil, &count, 0) == 0, count > 0 else { return nil }
        var parameters = [virTypedParameter](repeating: virTypedParameter(), count: Int(count))
        guard virDomainGetBlockIoTune(domain, target, &parameters, &count, 0) == 0 else { return nil }
        defer { virTypedParamsClear(&parameters, count) }
        var bytes: UInt64?
        var operations: UInt64?
        for var parameter in parameters.prefix(Int(count)) {
            let field = withUnsafeBytes(of: &parameter.field) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if field == VIR_DOMAIN_BLOCK_IOTUNE_TOTAL_BYTES_SEC { bytes = parameter.value.ul }
            if field == VIR_DOMAIN_BLOCK_IOTUNE_TOTAL_IOPS_SEC { operations = parameter.value.ul }
        }
        guard let bytes, let operations else { return nil }
        return (bytes, operations)
    }

    /// Kills QEMU now; harmless when it already stopped.
    ///
    /// libvirt's destroy sends SIGTERM and then polls every 200 ms until QEMU's process is gone.
    /// When this process adopted QEMU (`Subreaper`), nobody else would reap it, so it is killed
    /// and reaped here first, and libvirt's destroy finds it gone at once. Killing is as safe as
    /// libvirt's own: the guest has powered off (its I/O is complete) or is being destroyed.
    public func destroy() {
        if let pid = adoptedPID {
            adoptedPID = nil
            Subreaper.killAndReap(pid)
        }
        if virDomainIsActive(domain) == 1 {
            _ = virDomainDestroy(domain)
        }
    }
}
