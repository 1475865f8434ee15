import ConstruirSystem
import Foundation
import JobModel
import Logging
import ServiceLifecycle
import VMHost

/// The queue runner: watch → claim → boot → wait → collect → done, in `slots` parallel VMs.
///
/// It sleeps on inotify until a file arrives (and rescans at start), so an idle runner costs
/// nothing. Every job is at all times in exactly one place: the queue, `STATE/running/ID/`, or
/// done/. A job whose runner died is taken over (by this runner at its restart, or by another
/// sharing the queue) and run again, up to `maxAttempts`. On graceful shutdown it stops claiming,
/// lets running jobs finish for `gracePeriod`, then destroys the rest and returns them to the
/// queue. A finished job that done/ does not take (full, failing) stays in running/ and is
/// retried with backoff; no new job is claimed meanwhile, so the queue does not pile up there.
public final class Runner: Service, Sendable {
    public let queue: JobQueue
    public let done: DoneStore
    public let executor: JobExecutor
    public let identity: RunnerIdentity
    public let configuration: RunnerConfiguration
    /// Called after each job is published to done/ (the `--on-done` hook, `run-once`'s report).
    public let onPublished: (@Sendable (PublishedJob) async -> Void)?
    private let logger: Logger
    /// Jobs whose VM may still be exiting: the guest has halted and its disks were read, and
    /// libvirt's destroy (~1.4 s) goes on while the slot runs its next job. The runner waits
    /// for all of them before it returns.
    private let teardowns = Teardowns()
    /// Finished jobs done/ did not take yet.
    public let pending: PendingPublishes
    private let publisher: JobPublisher
    /// Tells the retry timer that `pending` gained a job.
    private let pendingChanged = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    /// The `JobTasks` key of the task retrying publishes (job slots count from 1).
    private static let retrySlot = 0

    public init(queue: JobQueue, done: DoneStore, executor: JobExecutor, identity: RunnerIdentity,
                configuration: RunnerConfiguration = RunnerConfiguration(), logger: Logger,
                onPublished: (@Sendable (PublishedJob) async -> Void)? = nil) {
        self.queue = queue
        self.done = done
        self.executor = executor
        self.identity = identity
        self.configuration = configuration
        self.onPublished = onPublished
        self.pending = PendingPublishes(initialDelay: configuration.publishRetryDelay, maxDelay: configuration.publishRetryMaxDelay)
        self.publisher = JobPublisher(done: done)
        var logger = logger
        logger[metadataKey: "runner"] = "\(identity.id)"
        self.logger = logger
    }

    private enum Wake: Sendable {
        case queueChanged, jobFinished(slot: Int), stop, graceOver, tick, retryDue, retriesFinished
    }

    public func run() async throws {
        // Watch before the first scan, so a job arriving in between is not missed.
        let watcher = try DirectoryWatcher(directory: queue.queueDirectory)
        defer { watcher.stop() }
        recoverAtStart()
        logger.info("watching queue", metadata: ["queue": "\(queue.queueDirectory)", "done": "\(done.directory)",
                                                 "slots": "\(configuration.slots)"])

        let (wakes, wake) = AsyncStream<Wake>.makeStream()
        let jobs = JobTasks()
        let background = [
            Task {
                for await _ in watcher.events { wake.yield(.queueChanged) }
            },
            Task { [interval = configuration.orphanScanInterval] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    wake.yield(.tick)
                }
            },
        ]
        defer { background.forEach { $0.cancel() } }

        await withDiscardingTaskGroup { group in
            group.addTask { await self.retryTimer(wake: wake) }
            await withTaskCancellationHandler {
                await withGracefulShutdownHandler {
                    var freeSlots = Array((1...configuration.slots).reversed())
                    var stopping = false
                    var retrying = false
                    var events = wakes.makeAsyncIterator()
                    while true {
                        // While done/ refuses finished jobs, claiming more would only pile them up in running/.
                        if !stopping, !Task.isCancelled, pending.isEmpty {
                            while let slot = freeSlots.last, let job = nextJob(slot: slot) {
                                freeSlots.removeLast()
                                jobs.start(slot: slot) {
                                    await self.process(job)
                                    wake.yield(.jobFinished(slot: slot))
                                }
                            }
                        }
                        if !stopping, !Task.isCancelled, !retrying, !pending.due(at: .now).isEmpty {
                            retrying = true
                            jobs.start(slot: Self.retrySlot) {
                                await self.retryPublishes()
                                wake.yield(.retriesFinished)
                            }
                        }
                        let idle = freeSlots.count == configuration.slots && !retrying
                        if idle, stopping || Task.isCancelled { break }
                        if idle, configuration.exitWhenIdle, pending.isEmpty, queue.pending().isEmpty, orphans().isEmpty {
                            logger.info("queue is empty: exiting (--exit-when-idle)")
                            break
                        }
                        guard let event = await events.next() else { break }
                        switch event {
                        case .jobFinished(let slot):
                            jobs.finished(slot: slot)
                            freeSlots.append(slot)
                            freeSlots.sort(by: >)
                        case .stop where !stopping:
                            stopping = true
                            let running = configuration.slots - freeSlots.count
                            if running > 0 {
                                logger.notice("stopping: no new jobs; \(running) running job(s) get \(JobExecutor.format(configuration.gracePeriod)) to finish")
                                Task { [grace = configuration.gracePeriod] in
                                    try? await Task.sleep(for: grace)
                                    wake.yield(.graceOver)
                                }
                            }
                        case .graceOver:
                            logger.notice("grace period over: interrupting running jobs")
                            jobs.cancelAll()
                        case .retriesFinished:
                            jobs.finished(slot: Self.retrySlot)
                            retrying = false
                        case .stop, .queueChanged, .tick, .retryDue:
                            break
                        }
                    }
                } onGracefulShutdown: {
                    wake.yield(.stop)
                }
            } onCancel: {
                jobs.cancelAll()
                wake.yield(.stop)
            }
            group.cancelAll()
        }
        await jobs.waitAll()
        await teardowns.waitAll()
        wake.finish()
        logger.info("runner stopped")
    }

    /// The next job for `slot`: an orphan of a dead runner first (it has waited longest), then
    /// the oldest queued job. Nil when there is nothing to claim.
    private func nextJob(slot: Int) -> ClaimedJob? {
        for orphan in orphans() {
            if let job = takeOver(orphan, slot: slot) { return job }
        }
        for name in queue.pending() {
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

    private func orphans() -> [JobQueue.Orphan] {
        queue.orphans(isAlive: { identity.isAlive($0) })
    }

    /// Kills what is left of the orphan's VM on this host and adopts it; nil if another runner
    /// was faster or it had already been published.
    private func takeOver(_ orphan: JobQueue.Orphan, slot: Int) -> ClaimedJob? {
        let domain = "construir-\(orphan.id)"
        executor.hypervisor.destroy(name: domain)
        StaleProcesses.kill(domains: [domain])
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

    /// At start: removes half-removed done/ entries and staging copies no job refers to, and destroys VMs a previous life of this
    /// runner identity left running (in the embedded driver's root, which is this identity's).
    private func recoverAtStart() {
        done.removeLeftovers(runningDirectory: queue.runningDirectory)
        let hypervisor = executor.hypervisor
        guard hypervisor.isEmbedded else { return }
        for name in hypervisor.runningDomainNames() where name.hasPrefix("construir-") {
            hypervisor.destroy(name: name)
            logger.notice("destroyed a VM left running by a runner that died", metadata: ["domain": "\(name)"])
        }
    }

    /// Runs a claimed job and publishes it to done/ (or returns it to the queue if interrupted).
    func process(_ job: ClaimedJob) async {
        if job.hasResult {
            await publish(job)
            return
        }
        if job.attempt > configuration.maxAttempts {
            let result = JobResult.notRun(job, status: .error, defaultImage: executor.options.defaultImage,
                                          error: "the runner died \(job.attempt - 1) times while running this job; not run again (--max-attempts \(configuration.maxAttempts))")
            await commit(result, for: job)
            return
        }
        defer { teardowns.start { [executor] in await executor.settle(jobID: job.id) } }
        switch await executor.execute(job) {
        case .interrupted:
            do {
                try queue.requeue(job)
                logger.notice("returned interrupted job to the queue", metadata: ["job": "\(job.name.fileName)"])
            } catch {
                logger.error("cannot return job to the queue, it stays in \(job.directory): \(error)")
            }
        case .finished(let result):
            CrashPoint.reach("collected")
            await commit(result, for: job)
        }
    }

    /// Writes result.json (durably: from here on the job is never run again) and publishes.
    private func commit(_ result: JobResult, for job: ClaimedJob) async {
        var result = result
        result.runnerID = identity.id
        do {
            try FileSystem.writeDurably(try result.encoded(), to: job.resultPath)
        } catch {
            logger.error("cannot write the result, the job stays in \(job.directory): \(error)")
            return
        }
        CrashPoint.reach("result-written")
        await publish(job, result: result)
    }

    /// Wakes the loop every `publishRetryDelay` while jobs wait to be published (it then starts
    /// those whose backoff is over); sleeps on `pendingChanged` while none do.
    private func retryTimer(wake: AsyncStream<Wake>.Continuation) async {
        var changes = pendingChanged.stream.makeAsyncIterator()
        while !Task.isCancelled {
            if pending.isEmpty {
                guard await changes.next() != nil else { return }
                continue
            }
            try? await Task.sleep(for: pending.initialDelay)
            wake.yield(.retryDue)
        }
    }

    /// Publishes again, one after the other, the jobs whose backoff is over.
    private func retryPublishes() async {
        for entry in pending.due(at: .now) where !Task.isCancelled {
            logger.info("trying again to publish job", metadata: ["job": "\(entry.job.name.fileName)", "failures": "\(entry.failures)"])
            await publish(entry.job, result: entry.result)
        }
    }

    /// Moves the job to done/. `result` is what its result.json holds; nil when a restarted
    /// runner publishes a result committed by its predecessor, which is then read back. A job
    /// done/ does not take stays in running/ and joins `pending`.
    private func publish(_ job: ClaimedJob, result: JobResult? = nil) async {
        let published: JobPublisher.Published
        do {
            published = try await OwnThread.run("publish") { [publisher] in try publisher.publish(job, result: result) }
        } catch {
            let entry = pending.failed(job, result: result, error: "\(error)", at: .now)
            try? await OwnThread.run("publish-record") { JobPublisher.recordFailure(entry) }
            pendingChanged.continuation.yield()
            logger.error("cannot publish job to done/: it stays in \(job.directory), is tried again in \(JobExecutor.format(pending.delay(afterFailures: entry.failures))), and no new job is claimed meanwhile: \(error)",
                         metadata: ["job": "\(job.name.fileName)", "failures": "\(entry.failures)"])
            return
        }
        pending.succeeded(job.id)
        let target = published.directory
        let result = published.result
        logger.info("job done", metadata: ["job": "\(job.name.fileName)", "status": "\(result?.status.rawValue ?? "?")", "done": "\(target)"])
        CrashPoint.reach("published")
        if let onPublished, let result { await onPublished(PublishedJob(directory: target, result: result)) }
        if let limit = configuration.keepDoneBytes {
            let removed = (try? await OwnThread.run("curate") { [done] in
                done.curate(maxBytes: limit, keeping: (target as NSString).lastPathComponent)
            }) ?? []
            for name in removed {
                logger.info("removed old job from done/ (--keep-done)", metadata: ["removed": "\(name)"])
            }
        }
    }
}

/// Background waits for VMs to finish exiting; each forgets itself when done.
final class Teardowns: @unchecked Sendable {
    private let lock = NSLock()
    private var tasks: [Int: Task<Void, Never>] = [:]
    private var counter = 0

    func start(_ body: @escaping @Sendable () async -> Void) {
        lock.withLock {
            counter += 1
            let id = counter
            tasks[id] = Task {
                await body()
                self.finished(id)
            }
        }
    }

    private func finished(_ id: Int) {
        lock.withLock { _ = tasks.removeValue(forKey: id) }
    }

    func waitAll() async {
        while let task = next() { await task.value }
    }

    private func next() -> Task<Void, Never>? {
        lock.withLock { tasks.first?.value }
    }
}

/// The job tasks of a runner, by slot, so a grace period's end can interrupt them all.
final class JobTasks: @unchecked Sendable {
    private let lock = NSLock()
    private var tasks: [Int: Task<Void, Never>] = [:]
    private var cancelled = false

    func start(slot: Int, _ body: @escaping @Sendable () async -> Void) {
        lock.lock(); defer { lock.unlock() }
        let task = Task { await body() }
        if cancelled { task.cancel() }
        tasks[slot] = task
    }

    func finished(slot: Int) {
        lock.lock(); tasks[slot] = nil; lock.unlock()
    }

    func cancelAll() {
        lock.lock(); defer { lock.unlock() }
        cancelled = true
        tasks.values.forEach { $0.cancel() }
    }

    func waitAll() async {
        for task in snapshot() { await task.value }
    }

    private func snapshot() -> [Task<Void, Never>] {
        lock.withLock { Array(tasks.values) }
    }
}

/// Test-only fault injection: when `CONSTRUIR_CRASH_AT` names a point (comma-separated), the
/// process kills itself with SIGKILL the first time it reaches it. The crash-recovery tests use
/// it to stop the runner at each step of a job; it does nothing when the variable is unset.
public enum CrashPoint {
    private static let points: Set<String> = {
        guard let value = ProcessInfo.processInfo.environment["CONSTRUIR_CRASH_AT"] else { return [] }
        return Set(value.split(separator: ",").map { String($0) })
    }()

    public static func reach(_ point: String) {
        if points.contains(point) { kill(getpid(), SIGKILL) }
    }
}
