import Glibc
import CConstruir
import Synchronization

/// This process as the reaper of the QEMU processes libvirt daemonises for it
/// (`PR_SET_CHILD_SUBREAPER`), and of nothing else.
///
/// Why: libvirt starts QEMU daemonised, so an exiting QEMU is reaped by PID 1, and libvirt's
/// destroy waits until the process is gone. An init that reaps orphans lazily makes every
/// destroy wait for it: on the benchmark host QEMU had exited 3 ms after SIGTERM but stayed a
/// zombie for 1.4 s. `construir run-once` adopts QEMU instead and reaps it itself (see
/// `VirtualMachine.destroy()`), so it can exit as soon as its job is published.
///
/// The role is held only while a domain starts (`whileStartingDomain`): a subreaper adopts every
/// daemonised descendant, and libvirt waits for the QEMU processes of its capability probe to
/// vanish, which an adopted, unreaped one never does (a first run-once on a new libvirt root
/// took 163 s instead of about 10). A child adopted while the role was held stays this process's
/// child after it ends.
package enum Subreaper {
    private struct State {
        var wanted = false
        var starting = 0
    }

    private static let state = Mutex(State())

    /// Asks that domains started from now on be adopted (`whileStartingDomain`).
    package static func adoptQEMU() {
        state.withLock { $0.wanted = true }
    }

    /// Whether `adoptQEMU()` was asked for: QEMU processes started since are this process's
    /// children, to be reaped by it.
    package static var isEnabled: Bool { state.withLock { $0.wanted } }

    /// Runs `body`, which starts a domain, as the subreaper of this process's descendants when
    /// `adoptQEMU()` was asked for, so the QEMU it daemonises becomes this process's child.
    /// Several starts at once share the role; it ends with the last of them.
    package static func whileStartingDomain<T>(_ body: () throws -> T) rethrows -> T {
        let holding = state.withLock { state -> Bool in
            guard state.wanted else { return false }
            if state.starting == 0 { _ = construir_set_child_subreaper(1) }
            state.starting += 1
            return true
        }
        defer {
            if holding {
                state.withLock { state in
                    state.starting -= 1
                    if state.starting == 0 { _ = construir_set_child_subreaper(0) }
                }
            }
        }
        return try body()
    }

    /// Kills `pid` (SIGKILL) and reaps it, if it is a child of this process; does nothing if it
    /// is not. Only a child's pid is safe to signal: it cannot be reused before it is reaped.
    package static func killAndReap(_ pid: pid_t) {
        var status: Int32 = 0
        var result = waitpid(pid, &status, WNOHANG)
        while result < 0 && errno == EINTR { result = waitpid(pid, &status, WNOHANG) }
        guard result == 0 else { return }  // reaped just now (it had exited), or not a child
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}
