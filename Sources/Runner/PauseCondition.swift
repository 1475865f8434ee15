import JobModel

/// One thing that makes a volunteer's runner hold back (a busy machine, a battery, the
/// clock), looked at every `interval` by the runner.
package protocol PauseCondition: Sendable, CustomStringConvertible {
    var kind: PauseReason.Kind { get }
    var interval: Duration { get }
    /// The reason to hold back now, or nil. Called by one task, one call at a time; it reads
    /// small files of /proc or /sys at most.
    func check() -> PauseReason?
}
