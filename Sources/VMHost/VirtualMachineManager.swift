/// What a runner needs of a hypervisor: start a job VM, and clean up after a runner that died.
/// `Hypervisor` (libvirt) is the real one; tests use a fake that plays the guest, so the
/// scheduler is tested in milliseconds without QEMU.
///
/// Its methods are async: libvirt's calls take up to seconds, and its implementation makes them
/// on threads of its own (`Hypervisor.call`), so a caller never leaves the pool by hand.
package protocol VirtualMachineManager: Sendable {
    associatedtype Machine: JobMachine

    /// Whether QEMU runs as the runner's own user (libvirt's embedded driver): the job's files
    /// then need no relabelling, and a VM whose guest powered off may finish exiting while the
    /// runner goes on (a daemon restores file ownership only once the domain is gone).
    var isEmbedded: Bool { get }

    /// Creates and starts the domain; its stop is watched from before it exists.
    func start(_ configuration: DomainConfiguration) async throws -> Machine

    /// Kills domain `name` and any QEMU process left of it (by a runner that died); harmless
    /// when there is none.
    func destroyLeftover(name: String) async

    /// Names of the running domains this manager can see.
    func runningDomainNames() async -> [String]
}
