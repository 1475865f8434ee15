import ConstruirSystem
import Foundation
import HubAPI
import JobModel
import Synchronization

/// How far each runner's results held up: replicated jobs it agreed on, jobs whose replicas
/// disagreed while it took part, and holds it failed (error results, refused outputs, leases
/// that ran out). Kept in `LEASES/.reputation.json` (0600), so a restarted hub still knows
/// which volunteer lied; written durably after each change.
///
/// A disagreement between two runners cannot say which of them lied, so each is counted as
/// disputed: a runner that is often disputed while others rarely are is the suspect.
public final class HubReputation: Sendable {
    public let path: String
    private let counts: Mutex<[String: HubStatus.Reputation]>

    private struct Contents: Codable {
        var version: Int
        var runners: [String: HubStatus.Reputation]
    }

    /// Reads `path` if it exists. Blocking.
    public init(path: String) throws {
        self.path = path
        var runners: [String: HubStatus.Reputation] = [:]
        if let data = FileManager.default.contents(atPath: path) {
            do {
                runners = try JobResult.jsonDecoder().decode(Contents.self, from: data).runners
            } catch {
                throw ConstruirError(.invalidArgument, "the hub's reputation file \(path) is not valid", cause: error)
            }
        }
        counts = Mutex(runners)
    }

    public enum Outcome: Sendable { case agreed, disputed, error }

    /// Counts `outcome` for each of `runners` and writes the file. Blocking.
    public func count(_ outcome: Outcome, for runners: [String]) throws {
        guard !runners.isEmpty else { return }
        try counts.withLock { counts in
            for runner in runners {
                switch outcome {
                case .agreed: counts[runner, default: .init()].agreed += 1
                case .disputed: counts[runner, default: .init()].disputed += 1
                case .error: counts[runner, default: .init()].errors += 1
                }
            }
            // Under the lock, so that a later count is never overwritten by an earlier one.
            try FileSystem.writeDurably(try JobResult.jsonEncoder().encode(Contents(version: 1, runners: counts)), to: path, mode: 0o600)
        }
    }

    public func snapshot() -> [String: HubStatus.Reputation] {
        counts.withLock { $0 }
    }
}
