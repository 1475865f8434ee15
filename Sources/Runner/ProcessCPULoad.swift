import Foundation
import Synchronization

/// The CPU use of chosen processes only, as a share of `cpus` CPUs: a load source that a test
/// controls (its own CPU burner) while other tests keep the machine busy.
package final class ProcessCPULoad: CPULoadSource {
    private let pids: @Sendable () -> [pid_t]
    private let cpus: Int
    private let last = Mutex<(at: ContinuousClock.Instant, ticks: [pid_t: UInt64])?>(nil)

    package init(cpus: Int = 1, pids: @escaping @Sendable () -> [pid_t]) {
        self.cpus = cpus
        self.pids = pids
    }

    package func sample() -> CPUUsage? {
        let now = ContinuousClock.now
        var ticks: [pid_t: UInt64] = [:]
        for pid in pids() {
            ticks[pid] = ProcessCPUTime.ticks(of: "\(pid)")
        }
        return last.withLock { last in
            defer { last = (now, ticks) }
            guard let before = last else { return nil }
            let used = ticks.reduce(UInt64(0)) { sum, entry in sum + entry.value - min(entry.value, before.ticks[entry.key] ?? 0) }
            return CPUUsage(other: Double(used) / ProcessCPUTime.ticksPerSecond, capacity: (now - before.at).seconds * Double(cpus))
        }
    }
}
