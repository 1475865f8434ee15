import ConstruirSystem
import Foundation
import JobModel
import Logging
import Testing
import TestSupport
import VMHost
@testable import Runner

/// `construir kill`'s library side (`JobKiller`, `KillRequest`) against the real runner, queue
/// and done/ with a fake hypervisor: a killed job never boots, a running one stops at once.
@Suite struct KillTests {
    typealias Fixture = SchedulerTests.Fixture

    func killer(_ fixture: Fixture) throws -> JobKiller {
        try JobKiller(queueDirectory: fixture.queue, stateDirectory: fixture.state, doneDirectory: fixture.done)
    }

    /// Polls `condition` until it holds; the deadline is generous for a loaded machine.
    func wait(_ what: String, seconds: Int = 60, until condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while try !condition() {
            guard ContinuousClock.now < deadline else { throw ConstruirError(.timeout, "waited \(seconds) s for \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func jobName(_ file: String) throws -> JobName {
        try #require(JobName(fileName: file))
    }

    func runningIDs(_ fixture: Fixture) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "\(fixture.state)/running").filter { !$0.hasPrefix(".") }
    }

    @Test func aKilledQueuedJobGoesToDoneAsKilledAndNeverBoots() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            try fixture.submit("victim")
            try fixture.submit("other")
            let submitted = try Data(contentsOf: URL(fileURLWithPath: "\(fixture.queue)/victim_i0.tar.xz"))

            let published = try #require(try killer(fixture).killQueued("victim_i0.tar.xz"))
            #expect(published.directory == "\(fixture.done)/victim")
            #expect(published.result?.status == .killed)
            #expect(try fixture.queued() == ["other_i0.tar.xz"])
            #expect(try runningIDs(fixture).isEmpty, "nothing is left in running/")
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(fixture.done)/victim/job.tar.xz")) == submitted, "job.tar.xz is kept as submitted")
            #expect(!FileSystem.exists("\(fixture.done)/victim/\(KillRequest.fileName)"), "the request stays out of done/")
            #expect(!FileSystem.exists("\(fixture.done)/victim/console.log"))
            let runners = try FileManager.default.contentsOfDirectory(atPath: "\(fixture.state)/runners")
            #expect(runners.isEmpty, "the kill's lock file is gone: \(runners)")

            // A runner then runs only the other job.
            let hypervisor = FakeHypervisor { _ in .finishes(exitCode: 0) }
            try await fixture.runner(hypervisor).run()
            #expect(hypervisor.started.count == 1)
            #expect(hypervisor.started.allSatisfy { $0.hasSuffix("-other") }, "\(hypervisor.started)")
            let results = try fixture.results()
            #expect(results["other"]?.status == .passed)
            let killed = try #require(results["victim"])
            #expect(killed.status == .killed)
            #expect(killed.error == KillRequest.killedBeforeBoot)
            #expect(killed.exitCode == nil)
            #expect(killed.sizes.job == Int64(submitted.count))
            #expect(try fixture.queued().isEmpty)
        }
    }

    @Test func aQueuedJobAlreadyClaimedIsNotKilledTwice() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            try fixture.submit("raced")
            let identity = try RunnerIdentity.acquire(stateDirectory: fixture.state)
            let queue = try JobQueue(queueDirectory: fixture.queue, stateDirectory: fixture.state)
            let claimed = try #require(try queue.claim(jobName("raced_i0.tar.xz"), by: identity))
            // The runner won the rename: the kill finds nothing to take and touches nothing.
            #expect(try killer(fixture).killQueued("raced_i0.tar.xz") == nil)
            #expect(FileSystem.exists(claimed.jobPath))
            #expect(try runningIDs(fixture) == [claimed.id])
            #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.done).isEmpty)
            // ... and kills it as a running job instead.
            #expect(try killer(fixture).requestKill(runningID: claimed.id))
            #expect(KillRequest.exists(in: claimed.directory))
            #expect(try killer(fixture).requestKill(runningID: "gone") == false, "a job published meanwhile")
        }
    }

    @Test func aClaimedJobAskedToStopBeforeItBootsNeverBoots() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            try fixture.submit("early")
            let identity = try RunnerIdentity.acquire(stateDirectory: fixture.state)
            let queue = try JobQueue(queueDirectory: fixture.queue, stateDirectory: fixture.state)
            let job = try #require(try queue.claim(jobName("early_i0.tar.xz"), by: identity))
            #expect(try killer(fixture).requestKill(runningID: job.id))

            let hypervisor = FakeHypervisor { _ in .finishes(exitCode: 0) }
            let execution = await fixture.executor(hypervisor).execute(job)
            guard case .finished(let result) = execution.outcome else {
                Issue.record("the job was interrupted, not finished")
                return
            }
            #expect(result.status == .killed)
            #expect(result.error == KillRequest.killedBeforeBoot)
            #expect(hypervisor.started.isEmpty, "no VM was started")
        }
    }

    @Test func aJobTakenOverKeepsItsKillRequestAndIsNotRun() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            try fixture.submit("orphan")
            let queue = try JobQueue(queueDirectory: fixture.queue, stateDirectory: fixture.state)
            let identity = try RunnerIdentity.acquire(stateDirectory: fixture.state)
            // A claim with its kill request, as `construir kill` makes it, whose maker died.
            let job = try #require(try queue.claim(jobName("orphan_i0.tar.xz"), by: identity, killing: KillRequest()))
            try "half made".write(toFile: "\(job.directory)/output.img", atomically: true, encoding: .utf8)
            let orphan = try #require(queue.orphans { _ in false }.first)
            let adopted = try #require(try queue.adopt(orphan, by: identity))
            #expect(KillRequest.exists(in: adopted.directory), "taking over keeps the request")
            #expect(!FileSystem.exists("\(adopted.directory)/output.img"), "and removes what is half made")

            let hypervisor = FakeHypervisor { _ in .finishes(exitCode: 0) }
            let execution = await fixture.executor(hypervisor).execute(adopted)
            guard case .finished(let result) = execution.outcome else {
                Issue.record("the job was interrupted, not finished")
                return
            }
            #expect(result.status == .killed)
            #expect(hypervisor.started.isEmpty)
        }
    }

    @Test func aKillRequestStopsARunningJobAtOnceAndTheNextJobRuns() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            try fixture.submit("hangs")
            let hypervisor = FakeHypervisor { configuration in
                SchedulerTests.jobName(configuration) == "hangs" ? .hangs : .finishes(exitCode: 0, files: ["out.txt": "next"])
            }
            // A timeout the test never reaches: only the kill can end the hanging job.
            let runner = try fixture.runner(hypervisor, timeout: .seconds(600))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await runner.run() }
                try await wait("the hanging job to boot") { hypervisor.running.count == 1 }
                try fixture.submit("next")
                let id = try #require(try runningIDs(fixture).first)
                #expect(try killer(fixture).requestKill(runningID: id))
                try await tasks.waitForAll()
            }
            let results = try fixture.results()
            let killed = try #require(results["hangs"])
            #expect(killed.status == .killed)
            #expect(killed.error?.hasPrefix(KillRequest.killedWhileRunning) == true, "\(killed.error ?? "")")
            #expect(killed.durations.destroy != nil, "the runner destroyed the VM")
            #expect(try #require(killed.durations.vm) < 300, "the kill ended it, not the timeout")
            #expect(killed.error?.contains("output") == true, "the empty output disk is noted: \(killed.error ?? "")")
            #expect(!FileSystem.exists("\(fixture.done)/hangs/\(KillRequest.fileName)"))
            #expect(FileSystem.exists("\(fixture.done)/hangs/job.tar.xz"))
            #expect(results["next"]?.status == .passed)
            #expect(try String(contentsOfFile: "\(fixture.done)/next/output/out.txt", encoding: .utf8) == "next")
            #expect(hypervisor.started.count == 2)
            #expect(hypervisor.running.isEmpty)
            #expect(try runningIDs(fixture).isEmpty)
        }
    }
}
