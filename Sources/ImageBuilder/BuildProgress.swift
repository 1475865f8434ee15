import Foundation
import Synchronization

/// Progress of an image build on standard error. On a terminal: one status line per step,
/// redrawn every second with the elapsed time and the tool's latest output line. Otherwise
/// (CI logs, pipes): plain lines — the step, the tool's output indented, a line every 30 s
/// while a step runs silently, and the step's duration.
package final class BuildProgress: Sendable {
    package enum Style: Sendable { case terminal, plain, silent }

    private let style: Style
    private let prefix: String
    private let write: @Sendable (String) -> Void
    private let state = Mutex(State())

    /// What the build's thread and the once-a-second timer both change.
    private struct State {
        var step: (number: Int, total: Int, title: String, started: ContinuousClock.Instant)?
        var lastLine = ""
        var lastPlainOutput = ContinuousClock.now
        var timer: (any DispatchSourceTimer)?
    }

    /// `style` nil: a terminal when standard error is one, else plain lines.
    package init(prefix: String, style: Style? = nil,
                write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.prefix = prefix
        self.style = style ?? (isatty(STDERR_FILENO) == 1 ? .terminal : .plain)
        self.write = write
    }

    deinit { state.withLock { $0.timer?.cancel() } }

    /// A message outside any step.
    package func note(_ message: String) {
        guard style != .silent else { return }
        state.withLock { state in
            clearStatusLine(state)
            write("\(prefix): \(message)\n")
            drawStatusLine(state)
        }
    }

    package func begin(step number: Int, of total: Int, _ title: String) {
        state.withLock { state in
            state.step = (number, total, title, .now)
            state.lastLine = ""
            state.lastPlainOutput = .now
            switch style {
            case .silent: return
            case .plain: write("\(prefix): [\(number)/\(total)] \(title)\n")
            case .terminal: drawStatusLine(state)
            }
            let timer = DispatchSource.makeTimerSource(queue: .global())
            timer.schedule(deadline: .now() + 1, repeating: 1)
            timer.setEventHandler { [weak self] in self?.tick() }
            timer.resume()
            state.timer = timer
        }
    }

    /// One line of output of the step's tool.
    package func output(_ line: String) {
        let line = line.trimmingCharacters(in: .whitespaces)
        guard !line.isEmpty else { return }
        state.withLock { state in
            state.lastLine = line
            switch style {
            case .silent: break
            case .plain:
                write("    \(line)\n")
                state.lastPlainOutput = .now
            case .terminal: drawStatusLine(state)
            }
        }
    }

    package func end(_ outcome: String = "done") {
        state.withLock { state in
            state.timer?.cancel()
            state.timer = nil
            guard let step = state.step else { return }
            clearStatusLine(state)
            state.step = nil
            guard style != .silent else { return }
            write("\(prefix): [\(step.number)/\(step.total)] \(step.title): \(outcome) in \(Self.format(ContinuousClock.now - step.started))\n")
        }
    }

    private func tick() {
        state.withLock { state in
            guard let step = state.step else { return }
            switch style {
            case .terminal: drawStatusLine(state)
            case .plain:
                if ContinuousClock.now - state.lastPlainOutput >= .seconds(30) {
                    write("\(prefix): [\(step.number)/\(step.total)] \(step.title): still running, \(Self.format(ContinuousClock.now - step.started))\n")
                    state.lastPlainOutput = .now
                }
            case .silent: break
            }
        }
    }

    private func drawStatusLine(_ state: State) {
        guard style == .terminal, let step = state.step else { return }
        var text = "\(prefix): [\(step.number)/\(step.total)] \(step.title)  \(Self.format(ContinuousClock.now - step.started))"
        if !state.lastLine.isEmpty { text += "  \(state.lastLine)" }
        let width = Self.terminalWidth()
        if text.count > width - 1 { text = String(text.prefix(max(width - 2, 10))) + "…" }
        write("\r\u{1B}[K\(text)")
    }

    private func clearStatusLine(_ state: State) {
        if style == .terminal, state.step != nil { write("\r\u{1B}[K") }
    }

    static func terminalWidth() -> Int {
        var size = winsize()
        if ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 20 { return Int(size.ws_col) }
        return 100
    }

    static func format(_ duration: Duration) -> String {
        let seconds = Int(duration.components.seconds)
        return seconds < 60 ? "\(seconds)s" : "\(seconds / 60)m\(String(format: "%02d", seconds % 60))s"
    }
}
