import ConstruirSystem
import Foundation
import Logging
import ServiceLifecycle

/// What the hub does between requests: wakes long polls when a job file lands in the queue,
/// ends holds that ran out (a failure, counted against their runner), finishes as errors the
/// jobs that failed `--max-attempts` times, moves finished jobs done/ could not take
/// yet, and reloads the tokens file when it changes. One task tree; file work on a thread pool.
struct HubMaintenance: Service {
    let server: HubServer
    let logger: Logger

    /// How often leases are checked: often enough that a short lease ends close to its time.
    var tick: Duration {
        min(.seconds(1), server.leases.duration / 4)
    }

    func run() async throws {
        try await recover()
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await watchQueue() }
            group.addTask {
                var sinceRetry = Duration.zero
                while !Task.isCancelled {
                    try? await Task.sleep(for: tick)
                    await expireLeases()
                    await reloadTokens()
                    sinceRetry += tick
                    if sinceRetry >= .seconds(10) {
                        sinceRetry = .zero
                        await publishFinished()
                    }
                }
            }
            try await gracefulShutdown()
            server.waiters.close()
            group.cancelAll()
        }
    }

    private func recover() async throws {
        let leases = server.leases
        let intake = server.intake
        let finished = try await server.blocking { try leases.recover(replicaResult: intake.keptReplica) }
        if !finished.isEmpty { logger.notice("moving \(finished.count) finished job(s) a stopped hub left to done/") }
        for lease in try await server.blocking({ leases.awaitingCompletion() }) {
            do {
                let receipt = try await server.blocking { try intake.complete(lease) }
                logger.notice("finished a job whose replicas were all in when the hub stopped", metadata: ["done": "\(receipt.location)"])
            } catch {
                logger.error("cannot finish a job whose replicas are all in: \(error)", metadata: ["lease": "\(lease.id)"])
            }
        }
        await publishFinished()
    }

    private func watchQueue() async throws {
        let watcher = try DirectoryWatcher(directory: server.leases.queueDirectory)
        defer { watcher.stop() }
        server.waiters.notify()
        for await _ in watcher.events.cancelOnGracefulShutdown() {
            server.waiters.notify()
        }
    }

    private func expireLeases() async {
        let (leases, intake) = (server.leases, server.intake)
        do {
            let expired = try await server.blocking { try leases.expire() }
            for held in expired {
                server.runners.ended(held.id, by: held.holder, delivered: false)
                logger.notice("lease ran out: the job goes to the next runner", metadata: [
                    "job": "\(held.job)", "lease": "\(held.id)", "runner": "\(held.holder)", "attempt": "\(held.attempt)"])
            }
            if !expired.isEmpty {
                let reputation = intake.reputation
                try await server.blocking { try reputation.count(.error, for: expired.map(\.holder)) }
                server.waiters.notify()
            }
            for lease in try await server.blocking({ leases.exhausted() }) {
                let error = "\(lease.failures) runner(s) failed it (last: \(lease.lastFailure ?? "unknown")); not handed out again (--max-attempts \(leases.maxAttempts))"
                let receipt = try await server.blocking { try intake.finishAsError(id: lease.id, error: error) }
                server.runners.finished()
                logger.error("job ended in error: \(error)", metadata: ["job": "\(lease.job)", "done": "\(receipt.location)"])
            }
        } catch {
            logger.error("cannot expire leases: \(error)")
        }
    }

    private func reloadTokens() async {
        let authenticator = server.authenticator
        do {
            try await server.blocking { try authenticator.reloadIfChanged() }
        } catch {
            logger.error("cannot reload the tokens file: \(error)")
        }
    }

    private func publishFinished() async {
        let (leases, intake) = (server.leases, server.intake)
        let directories = (try? await server.blocking { leases.finishedDirectories() }) ?? []
        for directory in directories {
            do {
                let target = try await server.blocking { try intake.publish(directory: directory) }
                logger.info("moved a finished job to done/", metadata: ["done": "\(target)"])
            } catch {
                logger.error("cannot move a finished job to done/ yet: \(error)", metadata: ["directory": "\(directory)"])
            }
        }
    }
}
