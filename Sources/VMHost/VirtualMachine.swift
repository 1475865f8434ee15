import CLibvirt
import ConstruirSystem
import Foundation
import Synchronization

/// One libvirt job VM (see `JobMachine`).
// @unchecked: it holds libvirt's domain handle, which libvirt allows from any thread.
package final class VirtualMachine: JobMachine, @unchecked Sendable {
    package let name: String
    private let domain: virDomainPtr
    private let signal: StopSignal
    private let router: LifecycleRouter

    /// Whether the memory hard limit of the configuration is in force (see `Hypervisor.start`).
    package let memoryHardLimitApplied: Bool

    /// QEMU's pid while this process, which adopted it (`Subreaper`), has to reap it; else nil.
    private let adoptedPID: Mutex<pid_t?>

    init(name: String, domain: virDomainPtr, signal: StopSignal, router: LifecycleRouter,
         adoptedPID: pid_t?, memoryHardLimitApplied: Bool) {
        self.name = name
        self.domain = domain
        self.signal = signal
        self.router = router
        self.adoptedPID = Mutex(adoptedPID)
        self.memoryHardLimitApplied = memoryHardLimitApplied
    }

    deinit {
        router.disarm(name: name)
        virDomainFree(domain)
    }

    package func stopped() async -> StopReason? {
        await signal.wait()
    }

    package func ended() async -> Bool {
        // A QEMU this process adopted is its own to reap: libvirt would wait for it in vain.
        if adoptedPID.withLock({ $0 }) != nil {
            await destroy()
            return true
        }
        return await signal.waitForEnd()
    }

    /// The live I/O throttle of the disk at `target` (e.g. "vda") as QEMU reports it:
    /// (bytes per second, operations per second), or nil when libvirt cannot tell.
    package func diskThrottle(target: String) -> (bytesPerSecond: UInt64, operationsPerSecond: UInt64)? {
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

    package func suspend() async throws {
        try await Hypervisor.call("construir-pause", urgent: true) { [self] in
            guard virDomainSuspend(domain) == 0 else { throw Hypervisor.lastError("cannot pause VM \(name)") }
        }
    }

    package func resume() async throws {
        try await Hypervisor.call("construir-resume", urgent: true) { [self] in
            guard virDomainResume(domain) == 0 else { throw Hypervisor.lastError("cannot resume VM \(name)") }
        }
    }

    package func resizeDisk(target: String, bytes: Int64) async throws {
        try await Hypervisor.call("construir-resize") { [self] in
            guard virDomainBlockResize(domain, target, UInt64(bytes), UInt32(VIR_DOMAIN_BLOCK_RESIZE_BYTES.rawValue)) == 0 else {
                throw Hypervisor.lastError("cannot resize disk \(target) of VM \(name)")
            }
        }
    }

    package func isRunning() async -> Bool {
        (try? await Hypervisor.call("construir-active") { [self] in virDomainIsActive(domain) == 1 }) ?? false
    }

    package func destroy() async {
        _ = try? await Hypervisor.call("construir-destroy") { [self] in destroyNow() }
    }

    /// Kills QEMU now; harmless when it already stopped. Blocks.
    ///
    /// libvirt's destroy sends SIGTERM and then polls every 200 ms until QEMU's process is gone.
    /// When this process adopted QEMU (`Subreaper`), nobody else would reap it, so it is killed
    /// and reaped here first, and libvirt's destroy finds it gone at once. Killing is as safe as
    /// libvirt's own: the guest has powered off (its I/O is complete) or is being destroyed.
    func destroyNow() {
        if let pid = adoptedPID.withLock({ pid in defer { pid = nil }; return pid }) {
            Subreaper.killAndReap(pid)
        }
        if virDomainIsActive(domain) == 1 {
            _ = virDomainDestroy(domain)
        }
    }
}
