/// What one stage of a job did (`stages` in result.json), as the guest's stage markers in the
/// console log tell. The guest is not trusted: this is its report, bounded and checked.
package struct StageResult: Codable, Sendable, Equatable {
    package enum Status: String, Codable, Sendable {
        case passed, failed
        /// Not run: a stage before it failed without `allow_failure`.
        case skipped
        /// Begun but never ended (the VM stopped, timed out or was killed meanwhile).
        case interrupted
    }

    /// The byte range of the stage's lines in console.log (after the begin marker's line, up to
    /// the end marker's).
    package struct ConsoleRange: Codable, Sendable, Equatable {
        package var offset: Int64
        package var length: Int64

        package init(offset: Int64, length: Int64) {
            self.offset = offset
            self.length = length
        }
    }

    package var name: String
    package var status: Status
    package var allowFailure: Bool
    package var exitCode: Int?
    /// Seconds after the job's stages began (guest uptime), and how long it ran.
    package var start: Double?
    package var duration: Double?
    package var console: ConsoleRange?

    package init(name: String, status: Status, allowFailure: Bool, exitCode: Int? = nil, start: Double? = nil,
                duration: Double? = nil, console: ConsoleRange? = nil) {
        self.name = name
        self.status = status
        self.allowFailure = allowFailure
        self.exitCode = exitCode
        self.start = start
        self.duration = duration
        self.console = console
    }

    /// For people: "failed, exit 7, 1.2s, allowed to fail".
    package var summary: String {
        var parts = [status.rawValue]
        if let exitCode { parts.append("exit \(exitCode)") }
        if let duration { parts.append(QueueSnapshot.formatDuration(duration)) }
        if allowFailure { parts.append("allowed to fail") }
        return parts.joined(separator: ", ")
    }

    /// "3/4 stages passed" for a list of a job's stages.
    package static func tally(_ stages: [StageResult]) -> String {
        "\(stages.filter { $0.status == .passed }.count)/\(stages.count) stages passed"
    }

    enum CodingKeys: String, CodingKey {
        case name, status, start, duration, console
        case allowFailure = "allow_failure"
        case exitCode = "exit_code"
    }
}
