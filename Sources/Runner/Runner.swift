import ConstruirSystem
import Foundation
import Logging
import ServiceLifecycle

/// The queue runner: watch → claim → boot → wait → collect → done, one job at a time.
///
/// It sleeps on inotify until a file arrives (and rescans at start and on overflow), so an idle
/// runner costs nothing. On graceful shutdown it stops claiming; a job whose VM is still running
/// is destroyed and returned to the queue, so no job is ever lost.
public final class Runner: Service, Sendable {
    public let queue: JobQueue
    public let done: DoneStore
    public let executor: JobExecutor
    public let exitWhenIdle: Bool
    private let logger: Logger

    public init(queue: JobQueue, done: DoneStore, executor: JobExecutor, exitWhenIdle: Bool = false, logger: Logger) {
        self.queue = queue
        self.done = done
        self.executor = executor
        self.exitWhenIdle = exitWhenIdle
        self.logger = logger
    }

    public func run() async throws {
        // Watch before the first scan, so a job arriving in between is not missed.
        let watcher = try DirectoryWatcher(directory: queue.queueDirectory)
        defer { watcher.stop() }
        for name in queue.recoverInterrupted() {
            logger.notice("requeued a job interrupted by an earlier runner", metadata: ["job": "\(name)"])
        }
        logger.info("watching queue", metadata: ["queue": "\(queue.queueDirectory)", "done": "\(done.directory)"])
        await cancelWhenGracefulShutdown {
            var events = watcher.events.makeAsyncIterator()
            while !Task.isCancelled {
                for job in self.queue.pending() {
                    if Task.isCancelled { break }
                    do {
                        guard let claimed = try self.queue.claim(job) else { continue }
                        await self.process(claimed)
                    } catch {
                        self.logger.error("cannot claim job: \(error)", metadata: ["job": "\(job.fileName)"])
                    }
                }
                if Task.isCancelled { break }
                if self.exitWhenIdle, self.queue.pending().isEmpty {
                    self.logger.info("queue is empty: exiting (--exit-when-idle)")
                    return
                }
                guard await events.next() != nil else { return }
            }
        }
        logger.info("runner stopped")
    }

    /// Runs a claimed job and publishes it to done/ (or returns it to the queue if interrupted).
    func process(_ job: ClaimedJob) async {
        logger.info("claimed job", metadata: ["job": "\(job.name.fileName)"])
        switch await executor.execute(job) {
        case .interrupted:
            do {
                try queue.requeue(job)
                logger.notice("returned interrupted job to the queue", metadata: ["job": "\(job.name.fileName)"])
            } catch {
                logger.error("cannot return job to the queue, it stays in \(job.directory): \(error)")
            }
        case .finished(let result):
            do {
                try writeResult(result, in: job.directory)
                try? FileManager.default.removeItem(atPath: "\(job.directory)/source-name")
                let target = try done.publish(job.directory, name: job.name.safeName)
                logger.info("job done", metadata: ["job": "\(job.name.fileName)", "status": "\(result.status.rawValue)", "done": "\(target)"])
            } catch {
                logger.error("cannot publish job to done/, it stays in \(job.directory): \(error)")
            }
        }
        await executor.settle()
    }

    private func writeResult(_ result: JobResult, in directory: String) throws {
        let path = "\(directory)/result.json"
        let temporary = "\(directory)/.result.json.tmp"
        try result.encoded().write(to: URL(fileURLWithPath: temporary))
        try FileSystem.fsync(path: temporary)
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
        try? FileSystem.fsync(path: directory)
    }
}
