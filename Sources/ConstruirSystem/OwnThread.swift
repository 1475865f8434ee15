import Foundation

/// Runs blocking work (copying trees, fsync, statvfs) on a thread of its own, so it never holds
/// one of the few threads of Swift's cooperative pool (one per core) that the runner's other
/// tasks, and an in-process status server, need.
///
/// A thread per call rather than a bounded pool: the calls block for up to seconds (a libvirt
/// destroy, extracting a large output), and a pool would queue a slot's short libvirt call
/// behind another slot's long extraction. Their number is bounded by the runner's slots; a
/// thread costs microseconds beside that work. With `IdlePriority` on, the thread runs at idle
/// priority (and so do threads it starts, such as the xz read-ahead), unless `urgent`: work
/// done for the machine's owner (pausing VMs when the owner needs the CPUs) must not wait
/// behind the owner's own programs.
package enum OwnThread {
    package static func run<T: Sendable>(_ name: String, urgent: Bool = false, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let idle = IdlePriority.isEnabled && !urgent
            let thread = Thread {
                if idle { IdlePriority.lowerCurrentThread() }
                continuation.resume(with: Result { try body() })
            }
            thread.name = name
            thread.start()
        }
    }
}
