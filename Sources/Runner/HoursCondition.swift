import Foundation
import JobModel

/// `run --hours`: holds back outside the compute hours. Running jobs finish, or with
/// `--window-end pause` their VMs pause until the next window begins.
package struct HoursCondition: PauseCondition {
    /// What a window's end does to a running job.
    package enum WindowEnd: String, Sendable, CaseIterable {
        case finish, pause
    }

    package let kind = PauseReason.Kind.hours
    package let interval: Duration
    package let hours: ComputeHours
    package let windowEnd: WindowEnd
    /// The time the hours are checked against; a test gives its own.
    package let now: @Sendable () -> Date

    package init(hours: ComputeHours, windowEnd: WindowEnd = .finish, interval: Duration = .seconds(20),
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.hours = hours
        self.windowEnd = windowEnd
        self.interval = interval
        self.now = now
    }

    package var description: String { "--hours \(hours) --window-end \(windowEnd.rawValue)" }

    package func check() -> PauseReason? {
        guard !hours.contains(now()) else { return nil }
        return PauseReason(kind: .hours, detail: "outside the compute hours \(hours)"
                           + (windowEnd == .pause ? " (--window-end pause)" : ""), suspendsVMs: windowEnd == .pause)
    }
}
