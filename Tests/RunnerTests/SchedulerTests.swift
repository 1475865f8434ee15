import JobModel
import Archive
import ConstruirSystem
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport
import VMHost
import XZ
@testable import Runner

/// The runner's scheduling with real files and a fake hypervisor: slots, the grace period,
/// take-over, how a VM's end is classified, and max attempts. Milliseconds, no QEMU, no images.
@Suite struct SchedulerTests {
    /// A queue, done/ and build image 0 (tiny files with true sha256 values) under `dir`.
    struct Fixture {
        let dir: String
        var queue: String { "\(dir)/queue" }
        var done: String { "\(dir)/done" }
        var state: String { "\(dir)/queue/.construir" }

        init(_ dir: String) throws {
            self.dir = dir
            for directory in ["\(dir)/queue", "\(dir)/done", "\(dir)/images/0"] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            var files: [String: String] = [:]
            for (name, text) in ["vmlinux": "kernel", "initrd.img": "initramfs"] {
                try text.write(toFile: "\(dir)/images/0/\(name)", atomically: true, encoding: .utf8)
                files[name] = try BuildImage.sha256(ofFile: "\(dir)/images/0/\(name)")
            }
            let manifest = BuildImage.Manifest(index: 0, description: "fake", protocol: 1, kernel: "vmlinux",
                                               initrd: "initrd.img", rootfs: nil, cmdline: "console=ttyS0", files: files)
            try JSONEncoder().encode(manifest).write(to: URL(fileURLWithPath: "\(dir)/images/0/image.json"))
        }

        /// Puts a job into the queue (`NAME_i0.tar.xz`, a valid job image).
        func submit(_ name: String) throws {
            let staging = "\(dir)/\(name).part"
            let writer = try JobImageWriter(path: staging, xz: XZWriter.Options(preset: 0))
            try writer.appendFile(path: Array("job/construir".utf8), contents: Array("echo \(name)\n".utf8), mode: 0o755, modificationTime: 0)
            try writer.finish()
            try FileSystem.renameNoReplace(staging, "\(queue)/\(name)_i0.tar.xz")
        }

        func runner(_ hypervisor: FakeHypervisor, slots: Int = 1, timeout: Duration = .seconds(30),
                    grace: Duration = .zero, maxAttempts: Int = 3, exitWhenIdle: Bool = true,
                    maxConsoleBytes: Int64 = 16 << 20,
                    configure: (inout RunnerConfiguration) -> Void = { _ in }) throws -> Runner<QueueDirectorySource> {
            let logger = Logger(label: "scheduler-test")
            let executor = executor(hypervisor, timeout: timeout, maxConsoleBytes: maxConsoleBytes)
            let identity = try RunnerIdentity.acquire(stateDirectory: state)
            let source = QueueDirectorySource(queue: try JobQueue(queueDirectory: queue, stateDirectory: state),
                                              done: try DoneStore(directory: done), identity: identity, logger: logger)
            var configuration = RunnerConfiguration(slots: slots, gracePeriod: grace, maxAttempts: maxAttempts, exitWhenIdle: exitWhenIdle)
            configure(&configuration)
            return Runner(source: source, executor: executor, identity: identity, configuration: configuration, logger: logger)
        }

        func executor(_ hypervisor: FakeHypervisor, timeout: Duration = .seconds(30), maxConsoleBytes: Int64 = 16 << 20) -> JobExecutor {
            let options = RunnerOptions(timeout: timeout, memoryMiB: 64, cpus: 1, acceleration: .tcg, maxConsoleBytes: maxConsoleBytes)
            return JobExecutor(images: ImageStore(root: "\(dir)/images"), hypervisor: hypervisor, options: options,
                               logger: Logger(label: "scheduler-test"))
        }

        /// done/'s results by job name.
        func results() throws -> [String: JobResult] {
            var results: [String: JobResult] = [:]
            for entry in try FileManager.default.contentsOfDirectory(atPath: done) {
                let result = try JobResult.decode(Data(contentsOf: URL(fileURLWithPath: "\(done)/\(entry)/result.json")))
                results[result.name] = result
            }
            return results
        }

        func queued() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: queue).filter { !$0.hasPrefix(".") }.sorted()
        }
    }

    /// The job name a domain runs, from its job disk's running directory (`ID` ends in the name).
    static func jobName(_ configuration: DomainConfiguration) -> String {
        let path = configuration.disks.first { $0.serial == "construir-job" }?.path ?? ""
        let id = ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent
        return String(id.split(separator: "-").last ?? "")
    }

    @Test func slotsBoundHowManyVMsRunAtOnce() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            for n in 1...5 { try fixture.submit("job\(n)") }
            let hypervisor = FakeHypervisor { _ in .finishes(exitCode: 0, files: ["out.txt": "hello"], after: .milliseconds(100)) }
            try await fixture.runner(hypervisor, slots: 2).run()

            let results = try fixture.results()
            #expect(results.count == 5)
            #expect(results.values.allSatisfy { $0.status == .passed }, "\(results.mapValues(\.status))")
            #expect(hypervisor.started.count == 5)
            #expect(hypervisor.mostRunning == 2)
            #expect(hypervisor.running.isEmpty, "every VM is torn down before run() returns")
            #expect(hypervisor.destroyed.isEmpty, "a guest that powered off is left to end by itself, never destroyed")
            let output = try String(contentsOfFile: "\(fixture.done)/job1/output/out.txt", encoding: .utf8)
            #expect(output == "hello")
            #expect(try fixture.queued().isEmpty)
        }
    }

    @Test func howAVMEndsDecidesTheStatus() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            for name in ["passes", "fails", "hangs", "floods", "crashes"] { try fixture.submit(name) }
            let hypervisor = FakeHypervisor { configuration in
                switch SchedulerTests.jobName(configuration) {
                case "passes": return .finishes(exitCode: 0)
                case "fails": return .finishes(exitCode: 3)
                case "hangs": return .hangs
                case "floods": return .floodsConsole(bytes: 8192)
                default: return .crashes()
                }
            }
            // 30 s: the other guests must end and the console watchdog (every 500 ms) see the
            // flood before the timeout, also when the whole suite starts beside this test (its
            // first tests then take about 25 s each: the cooperative pool is that busy).
            try await fixture.runner(hypervisor, slots: 5, timeout: .seconds(30), maxConsoleBytes: 4096).run()

            let results = try fixture.results()
            #expect(results["passes"]?.status == .passed)
            #expect(results["passes"]?.exitCode == 0)
            #expect(results["fails"]?.status == .failed)
            #expect(results["fails"]?.exitCode == 3)
            #expect(results["hangs"]?.status == .timedOut)
            #expect(results["hangs"]?.error?.hasPrefix("timed out after 30s") == true, "\(results["hangs"]?.error ?? "")")
            #expect(results["hangs"]?.durations.destroy != nil, "the runner destroyed it")
            #expect(results["passes"]?.durations.destroy == nil, "a guest that powered off is torn down later")
            #expect(hypervisor.destroyed.contains { $0.hasSuffix("-hangs") } && !hypervisor.destroyed.contains { $0.hasSuffix("-passes") },
                    "\(hypervisor.destroyed)")
            #expect(results["floods"]?.status == .error)
            #expect(results["floods"]?.error?.contains("the console log went over 4096 bytes") == true, "\(results["floods"]?.error ?? "")")
            #expect(results["crashes"]?.status == .error)
            #expect(results["crashes"]?.error?.contains("stopped (crashed) without reporting a result") == true, "\(results["crashes"]?.error ?? "")")
            // The console log is cut within the cap (a hub with the same --max-console takes it),
            // its last line saying so.
            let console = try String(contentsOfFile: "\(fixture.done)/floods/console.log", encoding: .utf8)
            #expect(console.utf8.count <= 4096 && console.utf8.count > 4000, "\(console.utf8.count)")
            #expect(console.hasSuffix("]\n") && console.contains("console log cut at 4096 bytes"))
            #expect(hypervisor.running.isEmpty)
        }
    }

    @Test func aStoppingRunnerGivesRunningJobsTheGracePeriodThenReturnsThemToTheQueue() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            try fixture.submit("quick")
            try fixture.submit("slow")
            let hypervisor = FakeHypervisor { configuration in
                SchedulerTests.jobName(configuration) == "quick" ? .finishes(exitCode: 0, after: .milliseconds(300)) : .hangs
            }
            let runner = try fixture.runner(hypervisor, slots: 2, grace: .seconds(1), exitWhenIdle: false)
            let group = ServiceGroup(configuration: .init(services: [runner], logger: Logger(label: "scheduler-test")))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                while hypervisor.started.count < 2 { try await Task.sleep(for: .milliseconds(10)) }
                let stopAsked = ContinuousClock.now
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                // The grace period passed before the hanging job was interrupted.
                #expect(ContinuousClock.now - stopAsked >= .seconds(1))
            }
            let results = try fixture.results()
            #expect(results.keys.sorted() == ["quick"], "the job that finished within the grace period is done")
            #expect(results["quick"]?.status == .passed)
            #expect(try fixture.queued() == ["slow_i0.tar.xz"], "the interrupted job is back in the queue")
            #expect(hypervisor.running.isEmpty)
            let running = try FileManager.default.contentsOfDirectory(atPath: "\(fixture.state)/running")
            #expect(running.isEmpty, "\(running)")
        }
    }

    @Test func aJobWhoseRunnerDiedIsTakenOverAfterItsVMIsKilled() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            try fixture.submit("orphan")
            let hypervisor = FakeHypervisor { _ in .finishes(exitCode: 0) }
            let runner = try fixture.runner(hypervisor)  // identity 1; the dead runner was 2
            let queue = try JobQueue(queueDirectory: fixture.queue, stateDirectory: fixture.state)
            let orphanID: String
            do {
                let dead = try RunnerIdentity.acquire(stateDirectory: fixture.state)
                let name = try #require(JobName(fileName: "orphan_i0.tar.xz"))
                orphanID = try #require(try queue.claim(name, by: dead)).id
            }  // the dead runner's lock is released here
            try await runner.run()

            #expect(hypervisor.leftoversDestroyed == ["construir-\(orphanID)"])
            let result = try #require(try fixture.results()["orphan"])
            #expect(result.status == .passed)
            #expect(result.attempt == 2)
        }
    }

    @Test func aTakeOverAlsoKillsTheWarmVMTheDeadRunnersJobRanOn() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            try fixture.submit("orphan")
            let hypervisor = FakeHypervisor { _ in .finishes(exitCode: 0) }
            let runner = try fixture.runner(hypervisor)
            let queue = try JobQueue(queueDirectory: fixture.queue, stateDirectory: fixture.state)
            let orphanID: String
            do {
                let dead = try RunnerIdentity.acquire(stateDirectory: fixture.state)
                let name = try #require(JobName(fileName: "orphan_i0.tar.xz"))
                let job = try #require(try queue.claim(name, by: dead))
                orphanID = job.id
                try Data("construir-warm-dead-7".utf8).write(to: URL(fileURLWithPath: JobDomain.record(in: job.directory)))
            }
            try await runner.run()

            #expect(hypervisor.leftoversDestroyed == ["construir-\(orphanID)", "construir-warm-dead-7"])
            #expect(try fixture.results()["orphan"]?.status == .passed)
        }
    }

    @Test func aJobThatKilledItsRunnerTooOftenIsNotRunAgain() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            try fixture.submit("deadly")
            let hypervisor = FakeHypervisor { _ in .finishes(exitCode: 0) }
            let runner = try fixture.runner(hypervisor, maxAttempts: 2)
            let queue = try JobQueue(queueDirectory: fixture.queue, stateDirectory: fixture.state)
            do {
                let dead = try RunnerIdentity.acquire(stateDirectory: fixture.state)
                let name = try #require(JobName(fileName: "deadly_i0.tar.xz"))
                let claimed = try #require(try queue.claim(name, by: dead))
                var record = try ClaimRecord.decode(Data(contentsOf: URL(fileURLWithPath: "\(claimed.directory)/claim.json")))
                record.attempt = 2
                try record.encoded().write(to: URL(fileURLWithPath: "\(claimed.directory)/claim.json"))
            }
            try await runner.run()

            #expect(hypervisor.started.isEmpty, "no VM is booted for it")
            let result = try #require(try fixture.results()["deadly"])
            #expect(result.status == .error)
            #expect(result.attempt == 3)
            #expect(result.error?.contains("the runner died 2 times while running this job; not run again (--max-attempts 2)") == true,
                    "\(result.error ?? "")")
        }
    }

    @Test func aCancelledRunnerReturnsItsJobAndBootsNothingMore() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            try fixture.submit("first")
            try fixture.submit("second")
            let hypervisor = FakeHypervisor { _ in .hangs }
            let runner = try fixture.runner(hypervisor, slots: 1, exitWhenIdle: false)
            let task = Task { try await runner.run() }
            while hypervisor.started.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
            task.cancel()
            try await task.value
            #expect(hypervisor.started.count == 1)
            #expect(hypervisor.running.isEmpty)
            #expect(try fixture.queued() == ["first_i0.tar.xz", "second_i0.tar.xz"])
            #expect(try fixture.results().isEmpty)
        }
    }

    @Test func aJobCancelledBeforeItsVMStartsIsInterruptedAndNeverBoots() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            try fixture.submit("early")
            let hypervisor = FakeHypervisor { _ in .finishes(exitCode: 0) }
            let executor = fixture.executor(hypervisor)
            let queue = try JobQueue(queueDirectory: fixture.queue, stateDirectory: fixture.state)
            let identity = try RunnerIdentity.acquire(stateDirectory: fixture.state)
            let name = try #require(JobName(fileName: "early_i0.tar.xz"))
            let job = try #require(try queue.claim(name, by: identity))
            let execution = await Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return await executor.execute(job)
            }.value
            guard case .interrupted = execution.outcome else {
                Issue.record("expected the job to be interrupted, got \(execution.outcome)")
                return
            }
            #expect(execution.exiting == nil)
            #expect(hypervisor.started.isEmpty)
        }
    }

    @Test func aJobNeedingTheHubsImageDigestRunsOnlyOnThatImage() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            for name in ["other", "same"] { try fixture.submit(name) }
            let hypervisor = FakeHypervisor { _ in .finishes(exitCode: 0) }
            let executor = fixture.executor(hypervisor)
            let queue = try JobQueue(queueDirectory: fixture.queue, stateDirectory: fixture.state)
            let identity = try RunnerIdentity.acquire(stateDirectory: fixture.state)
            let local = try BuildImage(index: 0, directory: "\(dir)/images/0").digest()
            let hubs = String(repeating: "ab", count: 32)

            let otherName = try #require(JobName(fileName: "other_i0.tar.xz"))
            var other = try #require(try queue.claim(otherName, by: identity))
            other.requiredImageDigest = hubs
            guard case .finished(let refused) = await executor.execute(other).outcome else {
                Issue.record("the job was not finished")
                return
            }
            #expect(refused.status == .error)
            #expect(refused.error?.contains(hubs) == true && refused.error?.contains(local) == true, "\(refused.error ?? "")")
            #expect(hypervisor.started.isEmpty, "never booted")

            let sameName = try #require(JobName(fileName: "same_i0.tar.xz"))
            var same = try #require(try queue.claim(sameName, by: identity))
            same.requiredImageDigest = local
            let execution = await executor.execute(same)
            guard case .finished(let passed) = execution.outcome else {
                Issue.record("the job was not finished")
                return
            }
            #expect(passed.status == .passed, "\(passed.error ?? "")")
            #expect(hypervisor.started.count == 1)
            if let machine = execution.exiting { await machine.destroy() }
        }
    }
}

/// `run --hours`: which times fall in a compute window, and a runner that claims nothing
/// outside one. The clock is the test's own, so no test waits for real hours.
@Suite struct ComputeHoursTests {
    private let utc = TimeZone(identifier: "UTC")!

    private func at(_ hour: Int, _ minute: Int) -> Date {
        Date(timeIntervalSince1970: Double(1_800_000_000 / 86_400 * 86_400 + hour * 3600 + minute * 60))
    }

    @Test func windowsMayCrossMidnightAndSeveralMayBeGiven() throws {
        let night = try ComputeHours(parsing: ["22:00-07:00"], timeZone: utc)
        #expect(night.contains(at(22, 0)) && night.contains(at(23, 59)) && night.contains(at(0, 0)) && night.contains(at(6, 59)))
        #expect(!night.contains(at(7, 0)) && !night.contains(at(12, 0)) && !night.contains(at(21, 59)))
        let two = try ComputeHours(parsing: ["09:00-12:00", "13:30-24:00"], timeZone: utc)
        #expect(two.contains(at(9, 0)) && !two.contains(at(12, 0)) && two.contains(at(13, 30)) && two.contains(at(23, 59)))
        #expect(!two.contains(at(0, 30)))
        #expect(two.description == "09:00-12:00,13:30-24:00")
        for bad in ["22-07", "25:00-01:00", "10:00-10:00", "10:60-11:00", "24:00-01:00", "9:00-10:00", "10:00"] {
            #expect(throws: ConstruirError.self, "\(bad)") { try ComputeHours(parsing: [bad], timeZone: utc) }
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func outsideTheWindowAQueuedJobStaysQueuedAndRunsOnceItBegins() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try SchedulerTests.Fixture(dir)
            try fixture.submit("night")
            let clock = Mutex(at(12, 0))
            let hypervisor = FakeHypervisor { _ in .finishes(exitCode: 0) }
            let hours = try ComputeHours(parsing: ["22:00-07:00"], timeZone: utc)
            let runner = try fixture.runner(hypervisor) { configuration in
                configuration.pauseConditions = [HoursCondition(hours: hours, interval: .milliseconds(20), now: { clock.withLock { $0 } })]
            }
            // With --exit-when-idle the runner keeps waiting: a job is queued.
            async let finished: Void = runner.run()
            // Noon: the runner looks at the clock many times (every 20 ms) and claims nothing.
            try await Task.sleep(for: .milliseconds(300))
            #expect(try fixture.queued() == ["night_i0.tar.xz"])
            #expect(hypervisor.started.isEmpty)
            clock.withLock { $0 = at(22, 30) }
            try await finished
            #expect(try fixture.results()["night"]?.status == .passed)
            #expect(hypervisor.started.count == 1)
        }
    }
}
