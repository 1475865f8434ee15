import CConstruir
import Foundation
import Synchronization

/// Runs the runner's heavy work at idle priority (`run --priority idle`): a volunteer lends a
/// machine they also use, and their own programs must always come first. Under SCHED_IDLE a
/// thread gets the CPU only when nothing else wants it, and the kernel gives its I/O the idle
/// class too. Lowering one's own priority needs no privilege; it cannot be raised back without
/// one, so only threads that do the heavy work (`OwnThread`) and QEMU's are lowered, never the
/// cooperative pool's.
package enum IdlePriority {
    private static let enabled = Atomic<Bool>(false)

    /// Whether threads `OwnThread` starts from now on run at idle priority.
    package static var isEnabled: Bool {
        get { enabled.load(ordering: .relaxed) }
        set { enabled.store(newValue, ordering: .relaxed) }
    }

    /// SCHED_IDLE's number, as /proc/PID/stat and sched_getscheduler report it.
    package static let policy = Int(construir_sched_idle_value())

    /// Puts the calling thread under SCHED_IDLE; false if the kernel refused.
    @discardableResult
    package static func lowerCurrentThread() -> Bool {
        construir_sched_idle(0) == 0
    }

    /// Puts every thread of process `pid` under SCHED_IDLE; threads it starts later inherit it
    /// from theirs. False when a thread could not be lowered (or none was found).
    @discardableResult
    package static func lowerProcess(_ pid: Int32) -> Bool {
        let tasks = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).compactMap { Int32($0) }
        var lowered = !tasks.isEmpty
        for tid in tasks where construir_sched_idle(tid) != 0 && errno != ESRCH { lowered = false }
        return lowered
    }

    /// The calling thread's scheduling policy.
    package static func currentPolicy() -> Int {
        Int(construir_sched_policy(0))
    }
}
