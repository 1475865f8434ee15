import Foundation

/// CPU time from /proc, in clock ticks (`sysconf(_SC_CLK_TCK)` per second).
enum ProcessCPUTime {
    static let ticksPerSecond = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))

    /// utime + stime of process `pid` ("self" for this one), every thread's; nil when it is gone.
    static func ticks(of pid: String) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return nil }
        return ticks(stat: text)
    }

    /// From the text of /proc/PID/stat: fields 14 and 15, counted after the command name's
    /// closing parenthesis (the name itself may hold spaces and parentheses).
    static func ticks(stat text: String) -> UInt64? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): utime is field 14, stime field 15.
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return user + system
    }

    /// The machine's (busy, total) ticks over all CPUs from /proc/stat's first line; iowait
    /// counts as idle, and guest time is already part of user time.
    static func machine(stat text: String) -> (busy: UInt64, total: UInt64)? {
        guard let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let values = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard values.count >= 5 else { return nil }
        let counted = Array(values.prefix(8))  // user nice system idle iowait irq softirq steal
        let total = counted.reduce(0, +)
        return (total - counted[3] - counted[4], total)
    }
}
