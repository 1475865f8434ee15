/// CPU time used by programs other than construir's, since the last sample: what
/// `run --pause-when-busy` compares with its threshold.
package protocol CPULoadSource: Sendable {
    /// Since the previous call: CPU seconds others used, and the CPU seconds there were (wall
    /// time × CPUs). nil on the first call, or when it cannot tell.
    func sample() -> CPUUsage?
}

package struct CPUUsage: Sendable, Equatable {
    package var other: Double
    package var capacity: Double

    package init(other: Double, capacity: Double) {
        self.other = other
        self.capacity = capacity
    }
}
