import JobModel
import ConstruirSystem
import Foundation
import Logging

/// Jobs from a queue directory, finished jobs into done/: `construir run --queue --done`.
///
/// Claims are renames into `STATE/running/`, shared by every runner on the queue (see
/// `JobQueue`); a job whose runner died is taken over before any queued job (it has waited
/// longest). File work runs on threads of its own.
package struct QueueDirectorySource: JobSource {
    package let queue: JobQueue
    package let done: DoneStore
    package let identity: RunnerIdentity
    /// `--keep-done`: after each publish, the oldest unpinned jobs beyond this many bytes go.
    package let keepDoneBytes: Int64?
    /// Leaves jobs whose tags this runner lacks for another runner; nil takes every job.
    package let tagFilter: QueueTagFilter?
    private let publisher: JobPublisher
    private let logger: Logger

    package init(queue: JobQueue, done: DoneStore, identity: RunnerIdentity, keepDoneBytes: Int64? = nil, tags: RunnerTags? = nil,
                 logger: Logger) {
        self.queue = queue
        self.tagFilter = tags.map { QueueTagFilter(tags: $0, logger: logger) }
        self.done = done
        self.identity = identity
        self.keepDoneBytes = keepDoneBytes
        self.publisher = JobPublisher(done: done)
        var logger = logger
        logger[metadataKey: "runner"] = "\(identity.id)"
        self.logger = logger
    }

    package func watch(onChange: @escaping @Sendable () -> Void) async throws {
        let watcher = try DirectoryWatcher(directory: queue.queueDirectory)
        defer { watcher.stop() }
        logger.info("watching queue", metadata: ["queue": "\(queue.queueDirectory)", "done": "\(done.directory)"])
        onChange()
        for await _ in watcher.events { onChange() }
    }

    package func recover() async {
        let (done, running) = (self.done, queue.runningDirectory)
        _ = try? await OwnThread.run("construir-recover") { done.removeLeftovers(runningDirectory: running) }
    }

    package func claim(slot: Int, prepareTakeOver: @escaping @Sendable (String) async -> Void) async -> ClaimedJob? {
        for orphan in await offPool({ $0.orphans() }) ?? [] {
            await prepareTakeOver(orphan.directory)
            if let job = await offPool({ $0.takeOver(orphan, slot: slot) }) ?? nil { return job }
        }
        return await offPool({ $0.claimQueued(slot: slot) }) ?? nil
    }

    package func hasWaitingJobs() async -> Bool {
        await offPool({ $0.servable().first { _ in true } != nil || !$0.orphans().isEmpty }) ?? false
    }

    package func release(_ job: ClaimedJob) async throws {
        let queue = self.queue
        try await OwnThread.run("construir-requeue") { try queue.requeue(job) }
    }

    package func deliver(_ job: ClaimedJob, result: JobResult?) async throws -> (location: String, result: JobResult?) {
        let publisher = self.publisher
        let published = try await OwnThread.run("construir-publish") { try publisher.publish(job, result: result) }
        if let limit = keepDoneBytes {
            let (done, kept) = (self.done, (published.directory as NSString).lastPathComponent)
            let removed = (try? await OwnThread.run("construir-curate") { done.curate(maxBytes: limit, keeping: kept) }) ?? []
            for name in removed {
                logger.info("removed old job from done/ (--keep-done)", metadata: ["removed": "\(name)"])
            }
        }
        return (published.directory, published.result)
    }

    /// `body` on a thread of its own: listing and renaming in a queue on NFS can take long.
    private func offPool<T: Sendable>(_ body: @escaping @Sendable (Self) -> T) async -> T? {
        try? await OwnThread.run("construir-queue") { [self] in body(self) }
    }

    private func orphans() -> [JobQueue.Orphan] {
        queue.orphans(isAlive: { identity.isAlive($0) })
    }

    /// The queued jobs this runner may take, in pickup order; each job's tags are read only
    /// when it is reached.
    private func servable() -> LazyFilterSequence<[JobName]> {
        let pending = queue.pending()
        tagFilter?.keep(only: pending)
        let (filter, directory) = (tagFilter, queue.queueDirectory)
        return pending.lazy.filter { filter?.accepts("\(directory)/\($0.fileName)", name: $0) ?? true }
    }

    private func claimQueued(slot: Int) -> ClaimedJob? {
        for name in servable() {
            do {
                if let job = try queue.claim(name, by: identity, slot: slot) {
                    logger.info("claimed job", metadata: ["job": "\(name.fileName)", "slot": "\(slot)"])
                    CrashPoint.reach("claimed")
                    return job
                }
            } catch {
                logger.error("cannot claim job: \(error)", metadata: ["job": "\(name.fileName)"])
            }
        }
        return nil
    }

    /// Adopts the orphan, whose VM is already killed; nil if another runner was faster or it
    /// had already been published.
    private func takeOver(_ orphan: JobQueue.Orphan, slot: Int) -> ClaimedJob? {
        if done.finishInterruptedPublish(of: orphan.directory) {
            logger.notice("a dead runner had already published this job", metadata: ["job": "\(orphan.record?.job ?? orphan.id)"])
            return nil
        }
        do {
            guard let job = try queue.adopt(orphan, by: identity, slot: slot) else { return nil }
            logger.notice("took over a job whose runner died", metadata: [
                "job": "\(job.name.fileName)", "attempt": "\(job.attempt)", "previous": "\(orphan.record?.runner ?? "unknown")"])
            return job
        } catch {
            logger.error("cannot take over orphaned job in \(orphan.directory): \(error)")
            return nil
        }
    }
}
