import ConstruirSystem

/// The status record the guest agent writes on its status disk (guest protocol v1): NUL-padded
/// `key=value` lines. It is written by an untrusted guest, so parsing is strict and bounded.
package struct GuestStatus: Sendable, Equatable {
    package static let diskSize = 4096

    package enum State: String, Sendable {
        case running, finished, error
        /// A warm VM's agent (protocol 3) booted and waits for its job.
        case waiting
    }

    package var state: State
    package var exitCode: Int?
    package var error: String?
    package var bootUptimeMs: Int?
    package var startUptimeMs: Int?
    package var endUptimeMs: Int?
    /// When a warm VM's agent saw its job handed over (protocol 3).
    package var handoverUptimeMs: Int?
    /// The agent applied the job's config disk (environment variables).
    package var configApplied = false
    /// The agent handed the secrets disk's values to the job (protocol 4).
    package var secretsApplied = false

    /// Parses the first `diskSize` bytes of the status disk. Nil when the guest wrote nothing.
    package static func parse(_ bytes: [UInt8]) throws -> GuestStatus? {
        let record = bytes.prefix(diskSize).prefix { $0 != 0 }
        guard !record.isEmpty else { return nil }
        guard let text = String(validating: record, as: UTF8.self) else {
            throw ConstruirError(.protocolViolation, "guest status record is not UTF-8")
        }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let eq = line.firstIndex(of: "=") else {
                throw ConstruirError(.protocolViolation, "guest status record has a malformed line")
            }
            fields[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        guard fields["construir-status"] == "1" else {
            throw ConstruirError(.protocolViolation, "guest status record is not protocol version 1")
        }
        guard let rawState = fields["state"], let state = State(rawValue: rawState) else {
            throw ConstruirError(.protocolViolation, "guest status record has no valid state")
        }
        func number(_ key: String) throws -> Int? {
            guard let value = fields[key] else { return nil }
            guard value.count <= 12, let parsed = Int(value) else {
                throw ConstruirError(.protocolViolation, "guest status field \(key) is not a number")
            }
            return parsed
        }
        var status = GuestStatus(state: state)
        status.exitCode = try number("exit_code")
        status.bootUptimeMs = try number("boot_uptime_ms")
        status.startUptimeMs = try number("start_uptime_ms")
        status.endUptimeMs = try number("end_uptime_ms")
        status.handoverUptimeMs = try number("handover_uptime_ms")
        status.configApplied = fields["config"] == "applied"
        status.secretsApplied = fields["secrets"] == "applied"
        if let error = fields["error"] {
            status.error = String(error.unicodeScalars.filter { $0.isASCII && $0.value >= 0x20 }.prefix(200).map(Character.init))
        }
        if state == .finished, status.exitCode == nil {
            throw ConstruirError(.protocolViolation, "guest reported finished without an exit code")
        }
        return status
    }

    package init(state: State) { self.state = state }
}
