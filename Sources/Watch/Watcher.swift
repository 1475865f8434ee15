import AsyncHTTPClient
import ConstruirSystem
import Foundation
import Logging
import Packager
import ServiceLifecycle

/// `construir watch` as a service: one poll loop and one report loop per repository, until a
/// signal stops it.
package struct Watcher: Service {
    package let configuration: WatchConfiguration
    package let destination: WatchDestination
    package let settings: WatchSettings
    package let logger: Logger

    package init(configuration: WatchConfiguration, destination: WatchDestination, settings: WatchSettings, logger: Logger) {
        self.configuration = configuration
        self.destination = destination
        self.settings = settings
        self.logger = logger
    }

    /// Creates the private state directory and its parts. `outgoing/` must be on the queue's
    /// filesystem, so that a job file moves into the queue in one rename.
    package static func prepare(_ settings: WatchSettings, destination: WatchDestination) throws {
        try PrivateDirectory.make(settings.stateDirectory)
        for part in [settings.outgoing, settings.repos, "\(settings.stateDirectory)/mirrors"] { try PrivateDirectory.makeInside(part) }
        guard case .queue(let queue, _) = destination else { return }
        var outgoing = stat(), target = stat()
        guard stat(settings.outgoing, &outgoing) == 0, stat(queue, &target) == 0 else {
            throw ConstruirError(.notFound, "cannot inspect the queue \(queue): \(String(cString: strerror(errno)))")
        }
        guard outgoing.st_dev == target.st_dev else {
            throw ConstruirError(.invalidArgument, "the state directory \(settings.stateDirectory) is not on the queue's filesystem (\(queue)); a job could not move into the queue in one rename: give --state on it")
        }
    }

    /// An image a repository asks for that `--images` lacks is the configuration's mistake,
    /// found at start: found while packaging, it would skip every commit as unbuildable.
    package static func checkImages(_ configuration: WatchConfiguration, in directory: String) throws(ConstruirError) {
        guard FileSystem.isDirectory(directory) else { return }
        let available = JobPackager.availableImages(in: directory)
        for repository in configuration.repositories {
            for image in repository.images where !available.contains(image) {
                throw ConstruirError(.invalidArgument, "\(repository.url) asks for build image \(image), which \(directory) does not have (it has \(available.map(String.init).joined(separator: ", ")))")
            }
        }
    }

    /// Takes the state directory's lock for as long as the value lives: two watchers on one
    /// state directory would finish each other's hand-overs.
    package static func lock(_ settings: WatchSettings) throws -> FileLock {
        guard let lock = try FileLock.tryLock("\(settings.stateDirectory)/lock", mode: 0o600) else {
            throw ConstruirError(.invalidArgument, "another construir watch is using the state directory \(settings.stateDirectory)")
        }
        return lock
    }

    /// Removes job files from `outgoing/` that no intent names: packaged by a run that died
    /// before it wrote its intent (the commit is packaged again when it is next looked at).
    package static func removeStrayJobs(_ settings: WatchSettings) throws {
        let named = Set(try WatchStatus.states(in: settings.stateDirectory).flatMap { $0.intents.flatMap(\.jobs) })
        for name in try FileManager.default.contentsOfDirectory(atPath: settings.outgoing) where !named.contains(name) {
            try FileManager.default.removeItem(atPath: "\(settings.outgoing)/\(name)")
        }
    }

    /// Each repository's watch, its state read from disk, and the state directory's lock.
    package func watches(http: HTTPClient) async throws -> (FileLock, [RepositoryWatch]) {
        let configuration = self.configuration, destination = self.destination, settings = self.settings, logger = self.logger
        return try await OwnThread.run("construir-watch-load") {
            try Self.prepare(settings, destination: destination)
            let lock = try Self.lock(settings)
            try Self.checkImages(configuration, in: settings.imagesDirectory)
            try Self.removeStrayJobs(settings)
            let watches = try configuration.repositories.map { repository throws(ConstruirError) in
                try RepositoryWatch(repository: repository, destination: destination, settings: settings, http: http, logger: logger)
            }
            return (lock, watches)
        }
    }

    /// One poll of every repository (side by side) and one round of reports, for `--once`
    /// (from cron, say); false when a repository could not be polled.
    package func runOnce() async throws -> Bool {
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let (lock, watches) = try await watches(http: http)
            defer { withExtendedLifetime(lock) {} }
            let failed = await withTaskGroup(of: Bool.self) { group in
                for watch in watches {
                    group.addTask {
                        await watch.poll()
                        await watch.sendReports()
                        return watch.stateFile.state.health.failures > 0
                    }
                }
                return await group.contains(true)
            }
            try await http.shutdown()
            return !failed
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    package func run() async throws {
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            let (lock, watches) = try await watches(http: http)
            defer { withExtendedLifetime(lock) {} }
            logger.info("watching", metadata: ["repositories": "\(watches.count)", "every": "\(settings.every)", "state": "\(settings.stateDirectory)"])
            await cancelWhenGracefulShutdown {
                await withDiscardingTaskGroup { group in
                    for watch in watches {
                        group.addTask { await watch.run() }
                        group.addTask { await watch.runReports() }
                    }
                }
            }
        } catch {
            try? await http.shutdown()
            throw error
        }
        try await http.shutdown()
    }
}
