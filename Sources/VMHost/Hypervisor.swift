import CLibvirt
import ConstruirSystem
import Foundation
import Logging

/// A connection to libvirt that starts job VMs and tells each one when it stopped.
///
/// The default is libvirt's embedded QEMU driver (`qemu:///embed?root=DIR`), which needs no
/// daemon. Stops are learned from lifecycle events delivered by libvirt's event loop, which
/// runs on its own thread; nothing polls.
// @unchecked: it holds libvirt's connection handle, which libvirt allows from any thread.
package final class Hypervisor: VirtualMachineManager, @unchecked Sendable {
    package let uri: String
    private let connection: virConnectPtr
    private let router: LifecycleRouter
    /// The lifecycle callback's registration, ended in `deinit` (which releases `router`).
    private let callbackID: Int32
    private let logger: Logger

    /// The URI of the embedded driver rooted at `root`.
    package static func embeddedURI(root: String) -> String { "qemu:///embed?root=\(root)" }

    /// Writes the embedded driver's qemu.conf: QEMU runs as the runner's own user (Debian's
    /// default `libvirt-qemu` user exists only with the system daemon installed), serial consoles
    /// go straight to files (no virtlogd daemon), libvirt must not record owners in the
    /// xattrs of our files, and QEMU runs under its seccomp sandbox (`-sandbox on` with
    /// obsolete, elevateprivileges, spawn and resourcecontrol denied), so a guest that breaks
    /// into QEMU cannot exec, setuid, or change its own limits.
    ///
    /// The root and its etc/ are this user's own, mode 0700 (`PrivateDirectory`): an existing
    /// one that someone else owns or can write is refused, never used.
    package static func prepareEmbeddedRoot(_ root: String) throws {
        try PrivateDirectory.make(root)
        try PrivateDirectory.make("\(root)/etc")
        let conf = """
        # Written by construir for libvirt's embedded QEMU driver.
        user = "+\(getuid())"
        group = "+\(getgid())"
        stdio_handler = "file"
        remember_owner = 0
        seccomp_sandbox = 1

        """
        try conf.write(toFile: "\(root)/etc/qemu.conf", atomically: true, encoding: .utf8)
    }

    /// Opens `uri`. For an embedded URI the root's qemu.conf is written first.
    package init(uri: String, logger: Logger) throws {
        EventLoop.startOnce()
        if let root = Self.embeddedRoot(of: uri) {
            try Self.prepareEmbeddedRoot(root)
        }
        guard let connection = virConnectOpen(uri) else {
            throw Self.lastError("cannot open libvirt connection \(uri)")
        }
        self.uri = uri
        self.connection = connection
        self.logger = logger
        self.router = LifecycleRouter()
        self.hasDACSecurityDriver = Self.capabilities(connection).contains("<model>dac</model>")
        // libvirt holds the router until the callback is deregistered, then releases it.
        let opaque = Unmanaged.passRetained(router).toOpaque()
        let callbackID = construir_register_lifecycle_callback(connection, lifecycleCallback, opaque, releaseRouter)
        if callbackID < 0 {
            Unmanaged<LifecycleRouter>.fromOpaque(opaque).release()
            virConnectClose(connection)
            throw Self.lastError("cannot register for libvirt lifecycle events")
        }
        self.callbackID = callbackID
    }

    deinit {
        virConnectDomainEventDeregisterAny(connection, callbackID)
        virConnectClose(connection)
    }

    /// Whether libvirt's DAC security driver is available: not for an unprivileged runner on the
    /// embedded driver, which then must not name it in a domain (see `DomainConfiguration`).
    package let hasDACSecurityDriver: Bool

    private static func capabilities(_ connection: virConnectPtr) -> String {
        guard let xml = virConnectGetCapabilities(connection) else { return "" }
        defer { free(xml) }
        return String(cString: xml)
    }

    /// Whether this is libvirt's embedded driver, which runs QEMU as the runner's own user: the
    /// job's files then need no relabelling (and a relabel would have nothing to restore).
    package var isEmbedded: Bool { Self.embeddedRoot(of: uri) != nil }

    /// The version of the libvirt library in use, e.g. "9.0.0".
    package static var libraryVersion: String {
        var version: UInt = 0
        virGetVersion(&version, nil, nil)
        return "\(version / 1_000_000).\((version / 1000) % 1000).\(version % 1000)"
    }

    /// Where every blocking libvirt call of a job VM runs: on a thread of its own (`OwnThread`),
    /// never on the cooperative pool. `urgent`: not lowered to idle priority (pausing and
    /// resuming VMs for the machine's owner). The calls run to their end even when the calling
    /// task is cancelled: a teardown is never left half done.
    static func call<T: Sendable>(_ name: String, urgent: Bool = false, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await OwnThread.run(name, urgent: urgent, body)
    }

    /// Creates and starts a transient domain. The stop watch is armed before the domain exists,
    /// so a guest that stops immediately is never missed.
    ///
    /// The domain is created paused, its memory hard limit set, then resumed: the guest runs no
    /// instruction before the limit is in place.
    package func start(_ configuration: DomainConfiguration) async throws -> VirtualMachine {
        try await Self.call("construir-start") { try self.startNow(configuration) }
    }

    private func startNow(_ configuration: DomainConfiguration) throws -> VirtualMachine {
        let signal = router.arm(name: configuration.name)
        var configuration = configuration
        configuration.dacSecurityDriver = hasDACSecurityDriver
        let xml = configuration.xml()
        // With a daemon, tie the domain to this connection so it dies with the runner; the
        // embedded driver lives inside this process and does not support that flag.
        let embedded = Self.embeddedRoot(of: uri) != nil
        let clock = ContinuousClock()
        let began = clock.now
        var flags = UInt32(VIR_DOMAIN_START_PAUSED.rawValue)
        if !embedded { flags |= UInt32(VIR_DOMAIN_START_AUTODESTROY.rawValue) }
        // run-once adopts the QEMU this daemonises (see `Subreaper`).
        guard let domain = Subreaper.whileStartingDomain({ virDomainCreateXML(connection, xml, flags) }) else {
            router.disarm(name: configuration.name)
            throw Self.lastError("cannot start VM \(configuration.name)")
        }
        let created = clock.now
        // Found while QEMU runs: an exited one (a zombie) has no command line to match.
        let adoptedPID = Subreaper.isEnabled
            ? StaleProcesses.qemuDomains(matching: { $0 == configuration.name })[configuration.name] : nil
        let adopted = clock.now
        if configuration.idlePriority {
            // libvirt lowers the vCPU and emulator threads (the XML's cputune); QEMU's other
            // threads (RCU, I/O workers) would still compete with the owner's programs.
            let pid = adoptedPID ?? StaleProcesses.qemuDomains(matching: { $0 == configuration.name })[configuration.name]
            if !(pid.map { IdlePriority.lowerProcess($0) } ?? false) {
                logger.notice("cannot lower every QEMU thread to idle priority", metadata: ["domain": "\(configuration.name)"])
            }
        }
        let limited = configuration.memoryHardLimitMiB.map { applyMemoryHardLimit(domain, mebibytes: $0) } ?? false
        let machine = VirtualMachine(name: configuration.name, domain: domain, signal: signal, router: router,
                                     adoptedPID: adoptedPID, memoryHardLimitApplied: limited)
        let limitedAt = clock.now
        guard virDomainResume(domain) == 0 else {
            let error = Self.lastError("cannot resume VM \(configuration.name)")
            machine.destroyNow()
            throw error
        }
        logger.debug("domain started", metadata: [
            "domain": "\(configuration.name)", "create": "\(created - began)", "adopt": "\(adopted - created)",
            "limit": "\(limitedAt - adopted)", "resume": "\(clock.now - limitedAt)"])
        return machine
    }

    /// Sets the memory cgroup's hard limit of a live domain. Best effort: an unprivileged runner
    /// on the embedded driver has no cgroups ("session mode"), and then QEMU's memory is bounded
    /// only by the guest's fixed RAM size plus QEMU's own needs. Logged once per connection.
    private func applyMemoryHardLimit(_ domain: virDomainPtr, mebibytes: Int) -> Bool {
        var parameters: virTypedParameterPtr?
        var count: Int32 = 0
        var capacity: Int32 = 0
        defer { virTypedParamsFree(parameters, count) }
        if virTypedParamsAddULLong(&parameters, &count, &capacity, VIR_DOMAIN_MEMORY_HARD_LIMIT, UInt64(mebibytes) * 1024) == 0,
           virDomainSetMemoryParameters(domain, parameters, count, UInt32(VIR_DOMAIN_AFFECT_LIVE.rawValue)) == 0 {
            return true
        }
        let error = Self.lastError("cannot set the VM's memory hard limit")
        memoryLimitWarning.once {
            logger.notice("\(error.message); QEMU's memory is bounded only by the guest's RAM size (see docs/security.md)")
        }
        return false
    }

    private let memoryLimitWarning = Once()

    /// Names of the domains this connection can see that are running (for cleaning up stale ones).
    package func runningDomainNames() async -> [String] {
        (try? await Self.call("construir-domains") { self.runningDomainNamesNow() }) ?? []
    }

    /// `runningDomainNames()` on the calling thread, for a caller that is not async (a test's
    /// check). Blocks.
    package func runningDomainNamesNow() -> [String] {
        var domains: UnsafeMutablePointer<virDomainPtr?>?
        let count = virConnectListAllDomains(connection, &domains, UInt32(VIR_CONNECT_LIST_DOMAINS_ACTIVE.rawValue))
        guard count > 0, let domains else { return [] }
        defer { free(domains) }
        var names: [String] = []
        for index in 0..<Int(count) {
            guard let domain = domains[index] else { continue }
            if let name = virDomainGetName(domain) { names.append(String(cString: name)) }
            virDomainFree(domain)
        }
        return names
    }

    /// Whether the running domain `name` is paused (suspended, or halted on its power-off);
    /// nil when there is no such running domain.
    package func isPaused(name: String) -> Bool? {
        guard let domain = virDomainLookupByName(connection, name) else { return nil }
        defer { virDomainFree(domain) }
        var state: Int32 = 0
        var reason: Int32 = 0
        guard virDomainGetState(domain, &state, &reason, 0) == 0 else { return nil }
        return state == Int32(VIR_DOMAIN_PAUSED.rawValue)
    }

    /// Destroys the domain through libvirt, then kills any QEMU process of that name libvirt
    /// cannot see (one of a dead runner whose embedded driver had another root).
    package func destroyLeftover(name: String) async {
        _ = try? await Self.call("construir-destroy") {
            self.destroy(name: name)
            StaleProcesses.kill(domains: [name])
        }
    }

    /// Destroys a running domain by name; false when there was none.
    @discardableResult
    package func destroy(name: String) -> Bool {
        guard let domain = virDomainLookupByName(connection, name) else { return false }
        defer { virDomainFree(domain) }
        return virDomainDestroy(domain) == 0
    }

    static func embeddedRoot(of uri: String) -> String? {
        guard uri.hasPrefix("qemu:///embed"), let query = uri.split(separator: "?", maxSplits: 1).last else { return nil }
        for pair in query.split(separator: "&") where pair.hasPrefix("root=") {
            return String(pair.dropFirst("root=".count))
        }
        return nil
    }

    static func lastError(_ context: String) -> ConstruirError {
        if let error = virGetLastError(), let message = error.pointee.message {
            return ConstruirError(.libvirt, "\(context): \(String(cString: message))")
        }
        return ConstruirError(.libvirt, context)
    }
}

private func lifecycleCallback(_ connection: virConnectPtr?, _ domain: virDomainPtr?, _ event: Int32,
                               _ detail: Int32, _ opaque: UnsafeMutableRawPointer?) -> Int32 {
    guard let opaque, let domain, let cName = virDomainGetName(domain) else { return 0 }
    let router = Unmanaged<LifecycleRouter>.fromOpaque(opaque).takeUnretainedValue()
    router.deliver(name: String(cString: cName), event: event, detail: detail)
    return 0
}

/// libvirt's free callback for the router passed to the lifecycle registration.
private func releaseRouter(_ opaque: UnsafeMutableRawPointer?) {
    guard let opaque else { return }
    Unmanaged<LifecycleRouter>.fromOpaque(opaque).release()
}
