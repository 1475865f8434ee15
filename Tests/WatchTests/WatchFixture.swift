import AsyncHTTPClient
import Foundation
import Logging
import TestSupport
import Watch

/// A queue, its done/, a state directory and a git server, in a temporary directory.
struct WatchFixture {
    let directory: String
    let server: GitServer
    var queue: String { "\(directory)/queue" }
    var done: String { "\(directory)/done" }
    var state: String { "\(directory)/state" }

    /// Runs `body` with a fresh fixture and an HTTP client, stopping the server and the client after.
    static func with<T>(_ body: (WatchFixture, HTTPClient) async throws -> T) async throws -> T {
        try await withTemporaryDirectory { directory in
            for part in ["queue", "done", "served", "work"] {
                try FileManager.default.createDirectory(atPath: "\(directory)/\(part)", withIntermediateDirectories: true)
            }
            let server = try await GitServer.start(serving: "\(directory)/served")
            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            let fixture = WatchFixture(directory: directory, server: server)
            do {
                let result = try await body(fixture, http)
                try await http.shutdown()
                server.stop()
                return result
            } catch {
                try? await http.shutdown()
                server.stop()
                throw error
            }
        }
    }

    func repository(_ name: String) async throws -> TestRepository {
        try await TestRepository.make(name, in: directory)
    }

    var settings: WatchSettings {
        var settings = WatchSettings(stateDirectory: state, imagesDirectory: "\(directory)/no-images", every: .seconds(1))
        settings.reportRetryBase = .milliseconds(10)
        settings.reportRetryCap = .milliseconds(10)
        return settings
    }

    /// The watch of `repository`, its state read afresh (as after a restart).
    func watch(_ repository: WatchRepository, http: HTTPClient) throws -> RepositoryWatch {
        let destination = WatchDestination.queue(directory: queue, done: done)
        try Watcher.prepare(settings, destination: destination)
        return try RepositoryWatch(repository: repository, destination: destination, settings: settings, http: http,
                                   logger: Logger(label: "watch-test"))
    }

    /// The job files in the queue, moved out of it as a runner claiming them would, so that a
    /// job queued again would show up again.
    func takeQueued() throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: queue).filter { !$0.hasPrefix(".") }.sorted()
        try FileManager.default.createDirectory(atPath: "\(directory)/taken", withIntermediateDirectories: true)
        for name in names { try FileManager.default.moveItem(atPath: "\(queue)/\(name)", toPath: "\(directory)/taken/\(name)-\(UUID())") }
        return names
    }
}

/// The job file name `watch` queues for a commit of repository `name` on image 0.
func jobFile(_ name: String, _ commit: String) -> String { "\(name)_\(commit.prefix(12))_i0.tar.xz" }
