import Foundation
import Synchronization
import VMHost

/// The machine's CPU use less construir's own: this process and every QEMU of a construir job
/// VM (found by its domain name, so a daemon's QEMU running as another user counts too).
/// Leaving them out keeps a paused runner from seeing its own VMs as the owner's load.
package final class HostCPULoad: CPULoadSource {
    private struct State {
        var machine: (busy: UInt64, total: UInt64)?
        /// Ticks per construir process at the last sample ("self" and QEMU pids).
        var ours: [String: UInt64] = [:]
        /// Whether each pid seen in /proc is a job VM's QEMU, and until which sample that is
        /// taken as known: a "no" is read again after a few samples, since a process caught
        /// between libvirt's fork and its exec of QEMU does not look like QEMU yet.
        var isJobVM: [String: (answer: Bool, until: Int)] = [:]
        var samples = 0
    }

    private let state = Mutex(State())

    package init() {}

    package func sample() -> CPUUsage? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
              let machine = ProcessCPUTime.machine(stat: text) else { return nil }
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { $0.first?.isNumber == true } ?? []
        return state.withLock { state in
            state.samples += 1
            var isJobVM: [String: (answer: Bool, until: Int)] = [:]
            for pid in pids {
                if let known = state.isJobVM[pid], known.until >= state.samples {
                    isJobVM[pid] = known
                } else {
                    let answer = Self.isJobVM(pid)
                    isJobVM[pid] = (answer, answer ? .max : state.samples + 3)
                }
            }
            state.isJobVM = isJobVM
            var ours: [String: UInt64] = [:]
            var oursUsed: UInt64 = 0
            for pid in ["self"] + isJobVM.filter(\.value.answer).map(\.key) {
                guard let ticks = ProcessCPUTime.ticks(of: pid) else { continue }
                ours[pid] = ticks
                // A process new since the last sample used all of its time since then.
                oursUsed += ticks - min(ticks, state.ours[pid] ?? 0)
            }
            defer {
                state.machine = machine
                state.ours = ours
            }
            guard let before = state.machine, machine.total > before.total else { return nil }
            let busy = machine.busy - min(machine.busy, before.busy)
            let other = busy - min(busy, oursUsed)
            return CPUUsage(other: Double(other) / ProcessCPUTime.ticksPerSecond,
                            capacity: Double(machine.total - before.total) / ProcessCPUTime.ticksPerSecond)
        }
    }

    private static func isJobVM(_ pid: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty,
              let name = StaleProcesses.domainName(commandLine: data) else { return false }
        return name.hasPrefix(JobDomain.prefix)
    }
}
