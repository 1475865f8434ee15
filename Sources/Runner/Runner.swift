import ConstruirSystem
import Foundation
import JobModel
import Logging
import ServiceLifecycle
import VMHost

/// The runner: claim → boot → wait → collect → deliver, in `slots` parallel VMs.
///
/// Its jobs come from a `JobSource` (the queue directory and done/, or a hub), which wakes it
/// when there may be work, so an idle runner costs nothing. Every job is at all times in
/// exactly one place: the source, `STATE/running/ID/`, or delivered. On graceful shutdown it
/// stops claiming, lets running jobs finish for `gracePeriod`, then destroys the rest and
/// gives them back. A finished job the source does not take (done/ full, failing) stays in
/// running/ and is delivered again with backoff; no new job is claimed meanwhile, so they do
/// not pile up there.
///
/// Its work is one task tree: the source's watch, the timers, each slot's job and its VM's
/// teardown are child tasks, so `run` returns only when all of them have.
package final class Runner<Source: JobSource>: Service, Sendable {
    package let source: Source
    package let executor: JobExecutor
    package let identity: RunnerIdentity
    package let configuration: RunnerConfiguration
    /// Called after each job is delivered (the `--on-done` hook, `run-once`'s report).
    package let onPublished: (@Sendable (PublishedJob) async -> Void)?
    private let logger: Logger
    /// Finished jobs the source did not take yet.
    package let pending: PendingPublishes
    /// Whether the runner holds back now (`configuration.pauseConditions`), and why.
    package let pauses = PauseSwitch()
    /// Tells the retry timer that `pending` gained a job.
    private let pendingChanged = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))

    package init(source: Source, executor: JobExecutor, identity: RunnerIdentity,
                configuration: RunnerConfiguration = RunnerConfiguration(), logger: Logger,
                onPublished: (@Sendable (PublishedJob) async -> Void)? = nil) {
        self.source = source
        self.executor = executor
        self.identity = identity
        self.configuration = configuration
        self.onPublished = onPublished
        self.pending = PendingPublishes(initialDelay: configuration.publishRetryDelay, maxDelay: configuration.publishRetryMaxDelay)
        var logger = logger
        logger[metadataKey: "runner"] = "\(identity.id)"
        self.logger = logger
    }

    private enum Wake: Sendable {
        case workMayExist, jobFinished(slot: Int), stop, graceOver, retryDue, retriesFinished
    }

    package func run() async throws {
        await recoverAtStart()
        // Looked at before the first claim: a runner started in the owner's busy hour claims nothing.
        for condition in configuration.pauseConditions {
            await noteChange(condition.kind, pauses.set(condition.kind, await Self.check(condition)))
        }
        defer { removePauseRecord() }
        logger.info("runner started", metadata: ["slots": "\(configuration.slots)"])
        let (wakes, wake) = AsyncStream<Wake>.makeStream()
        defer { wake.finish() }
        try await withThrowingDiscardingTaskGroup { helpers in
            helpers.addTask { try await self.source.watch { wake.yield(.workMayExist) } }
            // A runner that died on another host leaves no event behind: look again now and then.
            helpers.addTask { await Self.wakeEvery(self.configuration.orphanScanInterval, wake) }
            helpers.addTask { await self.retryTimer(wake: wake) }
            for condition in configuration.pauseConditions {
                helpers.addTask { await self.watch(condition, wake: wake) }
            }
            if let warm = executor.warm {
                warm.holdBack(pauses.holdsClaims)
                helpers.addTask { await warm.run() }
            }
            await withDiscardingTaskGroup { jobs in
                await withTaskCancellationHandler {
                    await withGracefulShutdownHandler {
                        await schedule(in: &jobs, wakes: wakes, wake: wake)
                    } onGracefulShutdown: {
                        wake.yield(.stop)
                    }
                } onCancel: {
                    wake.yield(.stop)
                }
                // Ends a grace timer still waiting; VM teardowns run to their end regardless.
                jobs.cancelAll()
            }
            helpers.cancelAll()
        }
        logger.info("runner stopped")
    }

    /// Wakes the scheduling loop every `interval` until cancelled, for changes no event reports.
    private static func wakeEvery(_ interval: Duration, _ wake: AsyncStream<Wake>.Continuation) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            wake.yield(.workMayExist)
        }
    }

    /// Looks at `condition` every `interval` until cancelled (a busy machine, a battery and the
    /// clock are changes no file system reports), and wakes the loop when the runner may claim
    /// again. Running jobs follow `pauses` themselves.
    private func watch(_ condition: any PauseCondition, wake: AsyncStream<Wake>.Continuation) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: condition.interval)
            if Task.isCancelled { return }
            let changed = pauses.set(condition.kind, await Self.check(condition))
            await noteChange(condition.kind, changed)
            if changed {
                executor.warm?.holdBack(pauses.holdsClaims)
                wake.yield(.workMayExist)
            }
        }
    }

    /// Reads what `condition` reads (/proc, /sys) on a thread of its own, at normal priority:
    /// the check must not wait behind the very load it is there to notice.
    private static func check(_ condition: any PauseCondition) async -> PauseReason? {
        (try? await OwnThread.run("construir-pause-check", urgent: true) { condition.check() }) ?? nil
    }

    /// Logs a change of `pauses` for `kind` and shows it in `STATE/runners/ID.pause.json`.
    private func noteChange(_ kind: PauseReason.Kind, _ changed: Bool) async {
        guard changed else { return }
        if let reason = pauses.reasons.first(where: { $0.kind == kind }) {
            logger.notice(reason.suspendsVMs ? "pausing: running VMs are paused and no new job is claimed" : "holding back: no new job is claimed (running jobs finish)",
                          metadata: ["why": "\(reason.detail)"])
        } else {
            var metadata: Logger.Metadata = ["over": "\(kind.rawValue)"]
            if pauses.holdsClaims { metadata["still"] = "\(pauses.reasons.map(\.detail).joined(separator: "; "))" }
            logger.notice(pauses.holdsClaims ? "one reason to hold back is over" : "resuming: VMs run and jobs are claimed again", metadata: metadata)
        }
        let path = "\(identity.directory)/\(RunnerPause.fileName(runner: identity.id))"
        let record = pauses.record(runner: identity.id)
        do {
            try await OwnThread.run("construir-pause-record") {
                if let record {
                    try record.encoded().write(to: URL(fileURLWithPath: path), options: .atomic)
                } else {
                    unlink(path)
                }
            }
        } catch {
            logger.warning("cannot write \(path): \(error)")
        }
    }

    private func removePauseRecord() {
        unlink("\(identity.directory)/\(RunnerPause.fileName(runner: identity.id))")
    }

    /// The scheduling loop: fills free slots, starts delivery retries, and returns once the
    /// runner is stopping (or idle with `exitWhenIdle`) and no job runs.
    private func schedule(in jobs: inout DiscardingTaskGroup, wakes: AsyncStream<Wake>, wake: AsyncStream<Wake>.Continuation) async {
        var freeSlots = Array((1...configuration.slots).reversed())
        var stopping = false
        var retrying = false
        var events = wakes.makeAsyncIterator()
        while true {
            // While the source refuses finished jobs, claiming more would only pile them up in
            // running/; while the runner holds back, a paused job keeps its slot.
            if !stopping, !Task.isCancelled, pending.isEmpty, !pauses.holdsClaims {
                while let slot = freeSlots.last, let job = await source.claim(slot: slot, prepareTakeOver: killLeftoverVM) {
                    freeSlots.removeLast()
                    jobs.addTask {
                        let exiting = await self.process(job)
                        wake.yield(.jobFinished(slot: slot))
                        // The slot may boot its next VM while this one's QEMU finishes exiting.
                        await exiting?.letEnd()
                    }
                }
            }
            if !stopping, !Task.isCancelled, !retrying, !pending.due(at: .now).isEmpty {
                retrying = true
                jobs.addTask {
                    await self.retryPublishes()
                    wake.yield(.retriesFinished)
                }
            }
            let idle = freeSlots.count == configuration.slots && !retrying
            if idle, stopping || Task.isCancelled { return }
            if idle, configuration.exitWhenIdle, pending.isEmpty, await !source.hasWaitingJobs() {
                logger.info("queue is empty: exiting (--exit-when-idle)")
                return
            }
            guard let event = await events.next() else { return }
            switch event {
            case .jobFinished(let slot):
                freeSlots.append(slot)
                freeSlots.sort(by: >)
            case .stop where !stopping:
                stopping = true
                executor.warm?.holdBack(true)
                let running = configuration.slots - freeSlots.count
                if running > 0 {
                    logger.notice("stopping: no new jobs; \(running) running job(s) get \(Units.format(configuration.gracePeriod)) to finish")
                    jobs.addTask { [grace = configuration.gracePeriod] in
                        try? await Task.sleep(for: grace)
                        if !Task.isCancelled { wake.yield(.graceOver) }
                    }
                }
            case .graceOver:
                logger.notice("grace period over: interrupting running jobs")
                jobs.cancelAll()
            case .retriesFinished:
                retrying = false
            case .stop, .workMayExist, .retryDue:
                break
            }
        }
    }

    /// Kills what is left of the VM of a job a dead runner held, before the job is adopted: the
    /// domain named after the job, or the warm VM its directory names.
    private var killLeftoverVM: @Sendable (String) async -> Void {
        { [hypervisor = executor.hypervisor] directory in
            await hypervisor.destroyLeftover(name: JobDomain.name(jobID: (directory as NSString).lastPathComponent))
            let recorded = try? await OwnThread.run("construir-take-over") { () -> String? in
                guard let data = FileManager.default.contents(atPath: JobDomain.record(in: directory)), data.count <= 256 else { return nil }
                return String(data: data, encoding: .utf8)
            }
            if let name = recorded ?? nil, name.hasPrefix(JobDomain.prefix), SafeName.isSafe(name) {
                await hypervisor.destroyLeftover(name: name)
            }
        }
    }

    /// At start: the source clears what a dead runner left half done, and VMs a previous life
    /// of this runner identity left running are destroyed (in the embedded driver's root,
    /// which is this identity's).
    private func recoverAtStart() async {
        await source.recover()
        let hypervisor = executor.hypervisor
        guard hypervisor.isEmbedded else { return }
        let destroyed = await hypervisor.runningDomainNames().filter { $0.hasPrefix(JobDomain.prefix) }
        for name in destroyed { await hypervisor.destroyLeftover(name: name) }
        for name in destroyed {
            logger.notice("destroyed a VM left running by a runner that died", metadata: ["domain": "\(name)"])
        }
    }

    /// Runs a claimed job and delivers it (or gives it back to the source if interrupted).
    /// Returns its VM when QEMU may still be exiting, for the caller to finish tearing down.
    func process(_ job: ClaimedJob) async -> (any JobMachine)? {
        executor.warm?.jobStarted()
        defer { executor.warm?.jobFinished() }
        if job.hasResult {
            await publish(job)
            return nil
        }
        if job.attempt > configuration.maxAttempts {
            let result = JobResult.notRun(job, status: .error, defaultImage: executor.options.defaultImage,
                                          error: "the runner died \(job.attempt - 1) times while running this job; not run again (--max-attempts \(configuration.maxAttempts))")
            await commit(result, for: job)
            return nil
        }
        let execution = await executor.execute(job, pauses: pauses)
        switch execution.outcome {
        case .interrupted:
            do {
                try await source.release(job)
                logger.notice("returned interrupted job to the queue", metadata: ["job": "\(job.name.fileName)"])
            } catch {
                logger.error("cannot return job to the queue, it stays in \(job.directory): \(error)")
            }
        case .finished(let result):
            CrashPoint.reach("collected")
            await commit(result, for: job)
        }
        return execution.exiting
    }

    /// Writes result.json (durably: from here on the job is never run again) and delivers.
    private func commit(_ result: JobResult, for job: ClaimedJob) async {
        var result = result
        result.runnerID = identity.id
        do {
            let bytes = try result.encoded()
            try await OwnThread.run("construir-commit") { try FileSystem.writeDurably(bytes, to: job.resultPath) }
        } catch {
            logger.error("cannot write the result, the job stays in \(job.directory): \(error)")
            return
        }
        CrashPoint.reach("result-written")
        await publish(job, result: result)
    }

    /// Wakes the loop every `publishRetryDelay` while jobs wait to be delivered (it then starts
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

    /// Delivers again, one after the other, the jobs whose backoff is over.
    private func retryPublishes() async {
        for entry in pending.due(at: .now) where !Task.isCancelled {
            logger.info("trying again to publish job", metadata: ["job": "\(entry.job.name.fileName)", "failures": "\(entry.failures)"])
            await publish(entry.job, result: entry.result)
        }
    }

    /// Delivers the job to the source's destination (done/). `result` is what its result.json
    /// holds; nil when a restarted runner delivers a result committed by its predecessor, which
    /// is then read back. A job not taken stays in running/ and joins `pending`.
    private func publish(_ job: ClaimedJob, result: JobResult? = nil) async {
        let delivered: (location: String, result: JobResult?)
        do {
            delivered = try await source.deliver(job, result: result)
        } catch {
            let entry = pending.failed(job, result: result, error: "\(error)", at: .now)
            try? await OwnThread.run("construir-publish-record") { JobPublisher.recordFailure(entry) }
            pendingChanged.continuation.yield()
            logger.error("cannot deliver job (to done/ or the hub): it stays in \(job.directory), is tried again in \(Units.format(pending.delay(afterFailures: entry.failures))), and no new job is claimed meanwhile: \(error)",
                         metadata: ["job": "\(job.name.fileName)", "failures": "\(entry.failures)"])
            return
        }
        pending.succeeded(job.id)
        logger.info("job done", metadata: ["job": "\(job.name.fileName)", "status": "\(delivered.result?.status.rawValue ?? "?")",
                                           "done": "\(delivered.location)"])
        CrashPoint.reach("published")
        if let onPublished, let result = delivered.result {
            await onPublished(PublishedJob(directory: delivered.location, result: result))
        }
    }
}
