import Foundation
import JobModel
import Synchronization

/// `run --pause-when-busy PCT`: holds back while other programs use more than PCT % of the
/// CPUs, averaged over a sliding `window`. It lets go only once their use is down to
/// `resumeBelow`, so that a load near the threshold does not pause and resume VMs on end.
package final class BusyCondition: PauseCondition {
    package let kind = PauseReason.Kind.busy
    package let interval: Duration
    package let percent: Double
    /// Where a pause ends: 15 points below `percent`, but not below half of it (a low
    /// threshold would otherwise never let go).
    package var resumeBelow: Double { max(percent - 15, percent / 2) }
    private let window: Int
    private let source: any CPULoadSource
    private let state = Mutex<(samples: [CPUUsage], busy: Bool)>(([], false))

    /// - Parameters:
    ///   - window: how much history the average covers (`window / interval` samples).
    package init(percent: Double, window: Duration = .seconds(10), interval: Duration = .seconds(1),
                source: any CPULoadSource = HostCPULoad()) {
        self.percent = percent
        self.interval = interval
        self.window = max(1, Int((window / interval).rounded()))
        self.source = source
    }

    package var description: String { "--pause-when-busy \(Int(percent)) (resumes below \(Int(resumeBelow))%)" }

    /// Other programs' share of the CPUs over the window, in percent; nil before two samples.
    package func check() -> PauseReason? {
        let usage = source.sample()
        return state.withLock { state in
            if let usage, usage.capacity > 0 {
                state.samples.append(usage)
                if state.samples.count > window { state.samples.removeFirst(state.samples.count - window) }
            }
            let capacity = state.samples.reduce(0) { $0 + $1.capacity }
            guard capacity > 0 else { return nil }
            let share = 100 * state.samples.reduce(0) { $0 + $1.other } / capacity
            state.busy = state.busy ? share >= resumeBelow : share > percent
            guard state.busy else { return nil }
            return PauseReason(kind: .busy, detail: String(format: "other programs use %.0f%% of the CPUs (--pause-when-busy %g)", share, percent),
                               suspendsVMs: true)
        }
    }
}
