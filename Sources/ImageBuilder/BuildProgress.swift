import Foundation

/// Progress of an image build on standard error. On a terminal: one status line per step,
/// redrawn every second with the elapsed time and the tool's latest output line. Otherwise
/// (CI logs, pipes): plain lines — the step, the tool's output indented, a line every 30 s
/// while a step runs silently, and the step's duration.
public final class BuildProgress: @unchecked Sendable {
    public enum Style: Sendable { case terminal, plain, silent }

    private let style: Style
    private let prefix: String
    private let write: @Sendable (String) -> Void
    private let lock = NSLock()
    private var step: (number: Int, total: Int, title: String, started: ContinuousClock.Instant)?
    private var lastLine = ""
    private var lastPlainOutput = ContinuousClock.now
    private var timer: DispatchSourceTimer?

    /// `style` nil: a terminal when standard error is one, else plain lines.
    public init(prefix: String, style: Style? = nil,
                write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.prefix = prefix
        self.style = style ?? (isatty(STDERR_FILENO) == 1 ? .terminal : .plain)
        self.write = write
    }

    deinit { timer?.cancel() }

    /// A message outside any step.
    public func note(_ message: String) {
        lock.lock(); defer { lock.unlock() }
        guard style != .silent else { return }
        clearStatusLine()
        write("\(prefix): \(message)\n")
        drawStatusLine()
    }

    public func begin(step number: Int, of total: Int, _ title: String) {
        lock.lock(); defer { lock.unlock() }
        step = (number, total, title, .now)
        lastLine = ""
        lastPlainOutput = .now
        switch style {
        case .silent: return
        case .plain: write("\(prefix): [\(number)/\(total)] \(title)\n")
        case .terminal: drawStatusLine()
        }
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler { [weak self] in self?.tick() }
        timer.resume()
        self.timer = timer
    }

    /// One line of output of the step's tool.
    public func output(_ line: String) {
        let line = line.trimmingCharacters(in: .whitespaces)
        guard !line.isEmpty else { return }
        lock.lock(); defer { lock.unlock() }
        lastLine = line
        switch style {
        case .silent: break
        case .plain:
            write("    \(line)\n")
            lastPlainOutput = .now
        case .terminal: drawStatusLine()
        }
    }

    public func end(_ outcome: String = "done") {
        lock.lock(); defer { lock.unlock() }
        timer?.cancel()
        timer = nil
        guard let step else { return }
        clearStatusLine()
        self.step = nil
        guard style != .silent else { return }
        write("\(prefix): [\(step.number)/\(step.total)] \(step.title): \(outcome) in \(Self.format(ContinuousClock.now - step.started))\n")
    }

    private func tick() {
        lock.lock(); defer { lock.unlock() }
        guard let step else { return }
        switch style {
        case .terminal: drawStatusLine()
        case .plain:
            if ContinuousClock.now - lastPlainOutput >= .seconds(30) {
                write("\(prefix): [\(step.number)/\(step.total)] \(step.title): still running, \(Self.format(ContinuousClock.now - step.started))\n")
                lastPlainOutput = .now
            }
        case .silent: break
        }
    }

    private func drawStatusLine() {
        guard style == .terminal, let step else { return }
        var text = "\(prefix): [\(step.number)/\(step.total)] \(step.title)  \(Self.format(ContinuousClock.now - step.started))"
        if !lastLine.isEmpty { text += "  \(lastLine)" }
        let width = Self.terminalWidth()
        if text.count > width - 1 { text = String(text.prefix(max(width - 2, 10))) + "…" }
        write("\r\u{1B}[K\(text)")
    }

    private func clearStatusLine() {
        if style == .terminal, step != nil { write("\r\u{1B}[K") }
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
