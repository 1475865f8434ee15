import ConstruirSystem
import Foundation
import Synchronization

/// One repository's `WatchState` on disk (`STATE/repos/KEY.json`, mode 0600). A JSON file per
/// repository rather than a database: the state is small, read whole at start and changed a
/// few times per commit, and a file replaced atomically (`FileSystem.writeDurably`) is either
/// the old state or the new one after a crash, which is all exactly-once needs.
package final class WatchStateFile: Sendable {
    package let path: String
    /// Keeps changes in order: the poll and the report loop both change the state, and each
    /// write must carry every change before it.
    private let lock = AsyncLock()
    private let current: Mutex<WatchState>

    /// Reads the state of `url` from `path`, or starts a new one when there is none.
    package init(path: String, url: String) throws(ConstruirError) {
        self.path = path
        var state = WatchState(url: url)
        if let data = FileManager.default.contents(atPath: path) {
            do {
                state = try Self.decoder().decode(WatchState.self, from: data)
            } catch {
                throw ConstruirError(.invalidArgument, "\(path) is not a watch state file (\(error)); move it away to start that repository afresh")
            }
            guard state.url == url else {
                throw ConstruirError(.invalidArgument, "\(path) records \(state.url), not \(url)")
            }
        }
        current = Mutex(state)
    }

    package var state: WatchState { current.withLock { $0 } }

    /// Changes the state, writes it durably (on a thread of its own), and only then makes it
    /// the current one; returns what `change` returns.
    @discardableResult
    package func update<T: Sendable>(_ change: (inout WatchState) -> T) async throws -> T {
        try await lock.withLock {
            var changed = current.withLock { $0 }
            let answer = change(&changed)
            let data = try Self.encoder().encode(changed)
            let path = self.path
            try await OwnThread.run("construir-watch-state") { try FileSystem.writeDurably(data, to: path, mode: 0o600) }
            let done = changed
            current.withLock { $0 = done }
            return answer
        }
    }

    package static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    package static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
