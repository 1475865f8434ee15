import Foundation

/// `STATE/runners/ID.pause.json`: a runner holding back and why, there only while it does.
/// `status`, the page and `/metrics` read directories, so this is how they know.
package struct RunnerPause: RunnerRecord, Equatable {
    package var runner: String
    /// When the runner began holding back (the first of the current reasons).
    package var since: Date
    package var reasons: [PauseReason]

    package init(runner: String, since: Date, reasons: [PauseReason]) {
        self.runner = runner
        self.since = since
        self.reasons = reasons
    }

    /// Whether the runner's VMs are paused now (else it only claims no new job).
    package var suspendsVMs: Bool { reasons.contains { $0.suspendsVMs } }

    /// The reasons for people, joined.
    package var summary: String { reasons.map(\.detail).joined(separator: "; ") }

    package static let suffix = ".pause.json"
}
