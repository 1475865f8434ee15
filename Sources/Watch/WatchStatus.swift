import ConstruirSystem
import Foundation

/// `construir watch --status`: what each repository's state file says, for people.
package enum WatchStatus {
    /// The states in `STATE/repos`, by URL.
    package static func states(in stateDirectory: String) throws -> [WatchState] {
        let directory = "\(stateDirectory)/repos"
        guard FileSystem.isDirectory(directory) else {
            throw ConstruirError(.notFound, "\(stateDirectory) is not a watch state directory (it has no repos/)")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
        return try names.map { name in
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(name)") else {
                throw ConstruirError(.system, "cannot read \(directory)/\(name)")
            }
            return try WatchStateFile.decoder().decode(WatchState.self, from: data)
        }.sorted { $0.url < $1.url }
    }

    package static func text(_ states: [WatchState]) -> String {
        let format = ISO8601DateFormatter()
        var out = ""
        for state in states {
            let health = state.health
            let condition = health.failures == 0 ? (health.lastSuccess == nil ? "not polled yet" : "ok") : "unreachable (\(health.failures) failed polls in a row)"
            out += "\(state.url): \(condition)\n"
            if let last = health.lastSuccess { out += "  last good poll: \(format.string(from: last))\n" }
            if let error = health.lastError { out += "  last error: \(error)\n" }
            if let next = health.nextPoll { out += "  next poll: \(format.string(from: next))\n" }
            out += "  refs: \(state.refs.count), commits queued: \(state.queued.count), hand-overs unfinished: \(state.intents.count), reports owed: \(state.reports.count)\n"
        }
        return out.isEmpty ? "no repositories watched yet\n" : out
    }
}
