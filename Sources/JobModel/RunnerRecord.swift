import ConstruirSystem
import Foundation

/// A file a live runner keeps in `STATE/runners/` beside its lock, `RUNNER.SUFFIX`, so that
/// `status`, the page and `/metrics`, which read directories, know what it does now.
package protocol RunnerRecord: Codable, Sendable {
    static var suffix: String { get }
    var runner: String { get }
}

extension RunnerRecord {
    package static func fileName(runner: String) -> String { "\(runner)\(suffix)" }

    package func encoded() throws -> Data {
        try JobResult.jsonEncoder().encode(self)
    }

    package static func decode(_ data: Data) throws -> Self {
        try JobResult.jsonDecoder().decode(Self.self, from: data)
    }

    /// The records of the live runners in `runnersDirectory` (`STATE/runners`), by runner; a
    /// record whose runner's lock is not held was left by one that died and is ignored.
    package static func readAll(in runnersDirectory: String) -> [String: Self] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: runnersDirectory)) ?? []
        var found: [String: Self] = [:]
        for name in names where name.hasSuffix(suffix) {
            let runner = String(name.dropLast(suffix.count))
            guard FileLock.isHeld("\(runnersDirectory)/\(runner).lock"),
                  let data = try? Data(contentsOf: URL(fileURLWithPath: "\(runnersDirectory)/\(name)")),
                  let record = try? decode(data), record.runner == runner else { continue }
            found[runner] = record
        }
        return found
    }
}
