import ConstruirSystem
import Foundation

/// `STATE/runners/ID.pause.json`: a runner holding back and why, there only while it does.
/// `status`, the page and `/metrics` read directories, so this is how they know.
public struct RunnerPause: Codable, Sendable, Equatable {
    public var runner: String
    /// When the runner began holding back (the first of the current reasons).
    public var since: Date
    public var reasons: [PauseReason]

    public init(runner: String, since: Date, reasons: [PauseReason]) {
        self.runner = runner
        self.since = since
        self.reasons = reasons
    }

    /// Whether the runner's VMs are paused now (else it only claims no new job).
    public var suspendsVMs: Bool { reasons.contains { $0.suspendsVMs } }

    /// The reasons for people, joined.
    public var summary: String { reasons.map(\.detail).joined(separator: "; ") }

    public static func fileName(runner: String) -> String { "\(runner).pause.json" }

    public func encoded() throws -> Data {
        try JobResult.jsonEncoder().encode(self)
    }

    public static func decode(_ data: Data) throws -> RunnerPause {
        try JobResult.jsonDecoder().decode(RunnerPause.self, from: data)
    }

    /// The records of the live runners in `runnersDirectory` (`STATE/runners`), by runner; a
    /// record whose runner's lock is not held was left by one that died and is ignored.
    public static func readAll(in runnersDirectory: String) -> [String: RunnerPause] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runnersDirectory)) ?? []
        var found: [String: RunnerPause] = [:]
        for name in names where name.hasSuffix(".pause.json") {
            let runner = String(name.dropLast(".pause.json".count))
            guard FileLock.isHeld("\(runnersDirectory)/\(runner).lock"),
                  let data = try? Data(contentsOf: URL(fileURLWithPath: "\(runnersDirectory)/\(name)")),
                  let record = try? decode(data), record.runner == runner else { continue }
            found[runner] = record
        }
        return found
    }
}
