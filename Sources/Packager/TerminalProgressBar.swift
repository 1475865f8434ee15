import Glibc

/// A one-line progress bar on standard error, drawn only when standard error is a terminal and
/// only once packaging has taken a while (small repositories finish before it would appear).
/// Redrawn at most ten times a second.
package final class TerminalProgressBar: PackageProgress {
    private let fd: Int32
    private let delay: Duration
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    private var lastDraw: ContinuousClock.Instant?
    private var drawn = false

    /// nil when `fd` is not a terminal.
    package init?(fd: Int32 = 2, delay: Duration = .milliseconds(300)) {
        guard isatty(fd) == 1 else { return nil }
        self.fd = fd
        self.delay = delay
        self.started = clock.now
    }

    package func update(completed: Int, total: Int) {
        guard total > 0 else { return }
        let now = clock.now
        guard now - started >= delay else { return }
        if let lastDraw, now - lastDraw < .milliseconds(100), completed < total { return }
        lastDraw = now
        draw(completed: completed, total: total)
    }

    package func finish() {
        guard drawn else { return }
        emit("\n")
        drawn = false
    }

    private func draw(completed: Int, total: Int) {
        let width = 30
        let filled = min(width, completed * width / total)
        let percent = completed * 100 / total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        emit("\rpackaging [\(bar)] \(completed)/\(total) entries (\(percent)%)")
        drawn = true
    }

    private func emit(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
