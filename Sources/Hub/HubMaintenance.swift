import ConstruirSystem
import Foundation
import Logging
import ServiceLifecycle

/// What the hub does between requests: takes job files dropped into the queue in (and wakes
/// long polls), ends holds that ran out (a failure, counted against their runner), finishes as
/// errors the jobs that failed `--max-attempts` times, moves finished jobs done/ could not take
/// yet, reloads the tokens file when it changes, and keeps done/ within `--keep-done` and
/// `--keep-days`. One task tree; every state change goes through the `HubCoordinator`.
struct HubMaintenance: Service {
    let coordinator: HubCoordinator
    let authenticator: HubAuthenticator
    let logger: Logger
    var keepDoneBytes: Int64?
    var keepDays: Double?

    /// How often leases are checked: often enough that a short lease ends close to its time.
    var tick: Duration {
        min(.seconds(1), coordinator.rules.leaseDuration / 4)
    }

    func run() async throws {
        try await coordinator.recover()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await watchQueue() }
            group.addTask {
                var sinceRetry = Duration.zero
                var sinceCuration = curationInterval
                while !Task.isCancelled {
                    try? await Task.sleep(for: tick)
                    do {
                        try await coordinator.expire()
                    } catch {
                        logger.error("cannot expire leases: \(error)")
                    }
                    await reloadTokens()
                    sinceRetry += tick
                    if sinceRetry >= .seconds(10) {
                        sinceRetry = .zero
                        await takeQueuedFiles()  // a file whose event was missed (or that arrived while the inbox was busy)
                        await coordinator.settleStale()
                        await coordinator.publishWaiting()
                    }
                    sinceCuration += tick
                    if sinceCuration >= curationInterval {
                        sinceCuration = .zero
                        await curateDone()
                    }
                }
            }
            try await gracefulShutdown()
            coordinator.waiters.close()
            group.cancelAll()
        }
    }

    private func watchQueue() async throws {
        let watcher = try DirectoryWatcher(directory: coordinator.queueDirectory)
        defer { watcher.stop() }
        await takeQueuedFiles()
        for await _ in watcher.events.cancelOnGracefulShutdown() {
            await takeQueuedFiles()
        }
    }

    private func takeQueuedFiles() async {
        do {
            let taken = try await coordinator.takeQueuedFiles()
            if taken > 0 { logger.debug("took \(taken) job file(s) from the queue") }
        } catch {
            logger.error("cannot take job files from the queue: \(error)")
        }
    }

    /// How often done/ is curated: sizing it reads every job directory in it, so every 5
    /// minutes, or ten times per `--keep-days` when that is shorter.
    var curationInterval: Duration {
        .seconds(max(1, min(300, (keepDays ?? 1) * 86400 / 10)))
    }

    /// Removes the oldest finished jobs beyond `--keep-done` and `--keep-days` from done/; the
    /// store keeps their records (listings show them; their files answer 404).
    private func curateDone() async {
        guard keepDoneBytes != nil || keepDays != nil else { return }
        let done = coordinator.intake.publisher.done
        let (maxBytes, cutoff) = (keepDoneBytes ?? .max, keepDays.map { Date().addingTimeInterval(-$0 * 86400) })
        do {
            let removed = try await coordinator.blocking.run { done.curate(maxBytes: maxBytes, olderThan: cutoff) }
            for name in removed { logger.info("removed an old job from done/ (--keep-done, --keep-days)", metadata: ["removed": "\(name)"]) }
        } catch {
            logger.error("cannot curate done/: \(error)")
        }
    }

    private func reloadTokens() async {
        do {
            try await coordinator.blocking.run { [authenticator] in try authenticator.reloadIfChanged() }
        } catch is CancellationError {
            // The hub is stopping.
        } catch {
            logger.error("cannot reload the tokens file: \(error)")
        }
    }
}
