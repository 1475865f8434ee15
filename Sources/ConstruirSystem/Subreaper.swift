#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CConstruir
import Synchronization

/// This process as the reaper of its orphaned descendants (`PR_SET_CHILD_SUBREAPER`).
///
/// Why: libvirt starts QEMU daemonised, so an exiting QEMU is reaped by PID 1, and libvirt's
/// destroy waits until the process is gone. An init that reaps orphans lazily makes every
/// destroy wait for it: on the benchmark host QEMU had exited 3 ms after SIGTERM but stayed a
/// zombie for 1.4 s. `construir run-once` adopts QEMU instead and reaps it itself (see
/// `VirtualMachine.destroy()`), so it can exit as soon as its job is published.
public enum Subreaper {
    private static let enabled = Atomic<Bool>(false)

    /// Makes this process the subreaper of its descendants; false if the kernel refused.
    @discardableResult
    public static func become() -> Bool {
        guard construir_set_child_subreaper() == 0 else { return false }
        enabled.store(true, ordering: .releasing)
        return true
    }

    /// Whether `become()` succeeded: orphaned descendants are then this process's children.
    public static var isEnabled: Bool { enabled.load(ordering: .acquiring) }

    /// Kills `pid` (SIGKILL) and reaps it, if it is a child of this process; does nothing if it
    /// is not. Only a child's pid is safe to signal: it cannot be reused before it is reaped.
    public static func killAndReap(_ pid: pid_t) {
        var status: Int32 = 0
        var result = waitpid(pid, &status, WNOHANG)
        while result < 0 && errno == EINTR { result = waitpid(pid, &status, WNOHANG) }
        guard result == 0 else { return }  // reaped just now (it had exited), or not a child
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}
