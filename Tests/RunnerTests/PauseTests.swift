import ConstruirSystem
import Foundation
import JobModel
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport
@testable import Runner

/// A condition the test turns on and off.
final class SwitchedCondition: PauseCondition {
    let kind: PauseReason.Kind
    let interval = Duration.milliseconds(20)
    private let on = Mutex(false)
    var description: String { "test switch" }

    init(kind: PauseReason.Kind = .busy) { self.kind = kind }

    func set(_ value: Bool) { on.withLock { $0 = value } }

    func check() -> PauseReason? {
        on.withLock { $0 } ? PauseReason(kind: kind, detail: "the test says so", suspendsVMs: true) : nil
    }
}

/// A load source that reports what the test gives it.
final class ScriptedLoad: CPULoadSource {
    private let share = Mutex<Double?>(nil)
    func set(_ percent: Double?) { share.withLock { $0 = percent } }
    func sample() -> CPUUsage? { share.withLock { $0 }.map { CPUUsage(other: $0, capacity: 100) } }
}

/// Pausing a volunteer's runner with a fake hypervisor: what a pause does to running VMs,
/// their timeout, the claims, the status records and a stop. Milliseconds, no QEMU.
@Suite struct PauseTests {
    private func wait(_ what: String, until condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while try !condition() {
            guard ContinuousClock.now < deadline else { throw ConstruirError(.timeout, "waited 60 s for \(what)") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aPausedJobKeepsItsSlotIsNotChargedForThePauseAndShowsWhy() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try SchedulerTests.Fixture(dir)
            try fixture.submit("first")
            // Each job needs 3 s of running time (the pause comes well before its end, even on a
            // loaded machine), and gets a 30 s timeout: the suite's start can keep the
            // cooperative pool from this test for about 25 s.
            let hypervisor = FakeHypervisor { _ in .computes(work: .seconds(3)) }
            let condition = SwitchedCondition()
            let runner = try fixture.runner(hypervisor, slots: 2, timeout: .seconds(30)) { configuration in
                configuration.pauseConditions = [condition]
            }
            async let finished: Void = runner.run()
            try await wait("the first VM") { !hypervisor.started.isEmpty }
            condition.set(true)
            try await wait("the VM to be paused") { hypervisor.suspendedMachines.first?.isSuspended == true }
            try fixture.submit("second")
            let observer = QueueObserver(queueDirectory: fixture.queue, doneDirectory: fixture.done)
            try await wait("the pause record") { !observer.snapshot().pausedRunners.isEmpty }
            // Paused for 31 s: longer than the whole timeout.
            try await Task.sleep(for: .seconds(31))
            let snapshot = observer.snapshot()
            #expect(snapshot.pausedRunners.first?.runner == runner.identity.id)
            #expect(snapshot.pausedRunners.first?.reasons.map(\.kind) == [.busy])
            #expect(snapshot.running.count == 1)
            #expect(snapshot.running.first?.paused == "the test says so")
            #expect(hypervisor.started.count == 1, "a free slot claims nothing while the runner is paused")
            #expect(try fixture.queued() == ["second_i0.tar.xz"])
            condition.set(false)
            try await finished
            let results = try fixture.results()
            #expect(results["first"]?.status == .passed, "\(String(describing: results["first"]?.error))")
            #expect((results["first"]?.durations.paused ?? 0) >= 31)
            #expect((results["first"]?.durations.vm ?? 0) > 33, "the job ran past its timeout, as it was paused")
            #expect(results["second"]?.status == .passed)
            #expect(results["second"]?.durations.paused == nil)
            #expect(observer.snapshot().pausedRunners.isEmpty, "the record is gone once the runner resumes")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aJobStillTimesOutOnItsRunningTime() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try SchedulerTests.Fixture(dir)
            try fixture.submit("long")
            let hypervisor = FakeHypervisor { _ in .computes(work: .seconds(60)) }
            let condition = SwitchedCondition()
            // 5 s: the pause must take effect before the job has run for its timeout, also when the
            // whole suite starts beside this test (it took over 1 s from the VM's start once).
            let runner = try fixture.runner(hypervisor, timeout: .seconds(5)) { configuration in
                configuration.pauseConditions = [condition]
            }
            async let finished: Void = runner.run()
            try await wait("the VM") { !hypervisor.started.isEmpty }
            condition.set(true)
            try await wait("the VM to be paused") { hypervisor.suspendedMachines.first?.isSuspended == true }
            try await Task.sleep(for: .milliseconds(700))
            condition.set(false)
            try await finished
            let result = try #require(try fixture.results()["long"])
            #expect(result.status == .timedOut)
            let paused = try #require(result.durations.paused)
            let vm = try #require(result.durations.vm)
            #expect(paused >= 0.6)
            #expect(vm - paused >= 5, "the timeout counts the running time: \(vm) s in the VM, \(paused) s paused")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aStopDuringAPauseReturnsTheJobAfterTheGrace() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try SchedulerTests.Fixture(dir)
            try fixture.submit("paused")
            let hypervisor = FakeHypervisor { _ in .computes(work: .seconds(5)) }
            let condition = SwitchedCondition()
            let runner = try fixture.runner(hypervisor, grace: .milliseconds(300), exitWhenIdle: false) { configuration in
                configuration.pauseConditions = [condition]
            }
            let group = ServiceGroup(configuration: .init(services: [runner], logger: Logger(label: "pause-test")))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await wait("the VM") { !hypervisor.started.isEmpty }
                condition.set(true)
                try await wait("the VM to be paused") { hypervisor.suspendedMachines.first?.isSuspended == true }
                let stopAsked = ContinuousClock.now
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                #expect(ContinuousClock.now - stopAsked >= .milliseconds(300), "the paused job had its grace period")
            }
            #expect(try fixture.queued() == ["paused_i0.tar.xz"], "the interrupted job is back in the queue")
            #expect(try fixture.results().isEmpty)
            #expect(hypervisor.running.isEmpty)
            #expect(!FileManager.default.fileExists(atPath: "\(fixture.state)/runners/\(runner.identity.id).pause.json"))
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func windowEndPausePausesARunningJobUntilTheNextWindow() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try SchedulerTests.Fixture(dir)
            try fixture.submit("night")
            let utc = TimeZone(identifier: "UTC")!
            let day = Double(1_800_000_000 / 86_400 * 86_400)
            let clock = Mutex(Date(timeIntervalSince1970: day + 6 * 3600 + 59 * 60))  // 06:59
            let hours = try ComputeHours(parsing: ["22:00-07:00"], timeZone: utc)
            let hypervisor = FakeHypervisor { _ in .computes(work: .seconds(1)) }
            let runner = try fixture.runner(hypervisor) { configuration in
                configuration.pauseConditions = [HoursCondition(hours: hours, windowEnd: .pause, interval: .milliseconds(10),
                                                                now: { clock.withLock { $0 } })]
            }
            async let finished: Void = runner.run()
            try await wait("the VM") { !hypervisor.started.isEmpty }
            clock.withLock { $0 = Date(timeIntervalSince1970: day + 7 * 3600) }  // 07:00: the window ends
            try await wait("the VM to be paused") { hypervisor.suspendedMachines.first?.isSuspended == true }
            let pause = try #require(QueueObserver(queueDirectory: fixture.queue, doneDirectory: fixture.done).snapshot().pausedRunners.first)
            #expect(pause.reasons.first?.kind == .hours && pause.suspendsVMs, "\(pause)")
            try await Task.sleep(for: .milliseconds(500))
            clock.withLock { $0 = Date(timeIntervalSince1970: day + 22 * 3600) }  // 22:00: the next one begins
            try await finished
            let result = try #require(try fixture.results()["night"])
            #expect(result.status == .passed)
            #expect((result.durations.paused ?? 0) >= 0.5)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func windowEndFinishLetsTheRunningJobFinish() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try SchedulerTests.Fixture(dir)
            try fixture.submit("evening")
            let utc = TimeZone(identifier: "UTC")!
            let day = Double(1_800_000_000 / 86_400 * 86_400)
            let clock = Mutex(Date(timeIntervalSince1970: day + 6 * 3600 + 59 * 60))
            let hours = try ComputeHours(parsing: ["22:00-07:00"], timeZone: utc)
            let hypervisor = FakeHypervisor { _ in .computes(work: .seconds(1)) }
            let runner = try fixture.runner(hypervisor) { configuration in
                configuration.pauseConditions = [HoursCondition(hours: hours, interval: .milliseconds(10), now: { clock.withLock { $0 } })]
            }
            async let finished: Void = runner.run()
            try await wait("the VM") { !hypervisor.started.isEmpty }
            clock.withLock { $0 = Date(timeIntervalSince1970: day + 7 * 3600) }
            try await finished
            #expect(try fixture.results()["evening"]?.status == .passed)
            #expect(try fixture.results()["evening"]?.durations.paused == nil)
            #expect(hypervisor.suspendedMachines.isEmpty)
        }
    }
}

/// `--pause-when-busy`: the sliding window and the hysteresis.
@Suite struct BusyConditionTests {
    @Test func pausesAboveTheThresholdAndResumesOnlyWellBelowIt() {
        let load = ScriptedLoad()
        let busy = BusyCondition(percent: 50, window: .seconds(3), interval: .seconds(1), source: load)
        #expect(busy.resumeBelow == 35)
        #expect(busy.check() == nil, "no sample yet")
        // Each check averages the last three samples: pause above 50, resume below 35.
        let steps: [(share: Double, average: Double, paused: Bool)] = [
            (20, 20, false), (60, 40, false), (90, 56.7, true), (40, 63.3, true), (40, 56.7, true),
            (40, 40, true), (30, 36.7, true), (30, 33.3, false), (45, 35, false), (80, 51.7, true),
        ]
        for step in steps {
            load.set(step.share)
            #expect((busy.check() != nil) == step.paused, "at \(step.share)%, averaging \(step.average)%")
        }
    }

    @Test func theReasonSaysHowBusyAndPausesVMs() throws {
        let load = ScriptedLoad()
        let busy = BusyCondition(percent: 10, window: .seconds(1), interval: .seconds(1), source: load)
        load.set(87)
        let reason = try #require(busy.check())
        #expect(reason.kind == .busy && reason.suspendsVMs)
        #expect(reason.detail == "other programs use 87% of the CPUs (--pause-when-busy 10)")
        #expect(busy.resumeBelow == 5)
    }

    @Test func hostLoadLeavesOutThisProcess() async throws {
        let load = HostCPULoad()
        #expect(load.sample() == nil, "the first sample has nothing to compare with")
        // This process burns CPU on a thread of its own (not the test pool's) for a while: it
        // is not "other programs".
        let spins = try await OwnThread.run("spin") {
            let deadline = ContinuousClock.now + .milliseconds(300)
            var spins = 0
            while ContinuousClock.now < deadline { spins &+= 1 }
            return spins
        }
        let usage = try #require(load.sample())
        #expect(usage.capacity > 0.25)
        #expect(usage.other >= 0 && usage.other <= usage.capacity)
        #expect(spins > 0)
    }

    @Test func procStatIsReadAsTheKernelWritesIt() {
        let stat = "cpu  100 5 50 1000 20 1 2 3 40 0\ncpu0 50 2 25 500 10 0 1 1 20 0\n"
        let machine = ProcessCPUTime.machine(stat: stat)
        #expect(machine?.total == 1181 && machine?.busy == 161)
        // A command name with spaces and a parenthesis.
        #expect(ProcessCPUTime.ticks(stat: "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 70 30 0 0 20 0 1 0 5 0 0") == 100)
        #expect(ProcessCPUTime.ticks(stat: "garbage") == nil)
    }
}

/// `--pause-on-battery`, read from a power supply directory the test makes.
@Suite struct BatteryConditionTests {
    private func supply(_ dir: String, _ name: String, _ files: [String: String]) throws {
        try FileManager.default.createDirectory(atPath: "\(dir)/\(name)", withIntermediateDirectories: true)
        for (file, text) in files { try "\(text)\n".write(toFile: "\(dir)/\(name)/\(file)", atomically: true, encoding: .utf8) }
    }

    @Test func aLaptopOnItsBatteryPausesAndOnMainsDoesNot() async throws {
        try await withTemporaryDirectory { dir in
            try supply(dir, "AC", ["type": "Mains", "online": "1"])
            try supply(dir, "BAT0", ["type": "Battery", "status": "Charging"])
            let condition = BatteryCondition(directory: dir)
            #expect(condition.check() == nil)
            try supply(dir, "AC", ["online": "0"])
            try supply(dir, "BAT0", ["status": "Discharging"])
            #expect(condition.check()?.kind == .battery)
            #expect(condition.check()?.suspendsVMs == true)
            // Unplugged, and the battery says neither (some firmware reports "Unknown").
            try supply(dir, "BAT0", ["status": "Unknown"])
            #expect(BatteryCondition.onBattery(directory: dir))
        }
    }

    @Test func aDesktopOrAMouseBatteryNeverPauses() async throws {
        try await withTemporaryDirectory { dir in
            #expect(!BatteryCondition.onBattery(directory: dir), "no power supply class at all")
            try supply(dir, "hidpp_battery_0", ["type": "Battery", "scope": "Device", "status": "Discharging"])
            #expect(!BatteryCondition.onBattery(directory: dir))
            #expect(!BatteryCondition.onBattery(directory: "\(dir)/missing"))
        }
    }
}

/// The switch the conditions set and the running jobs follow.
@Suite struct PauseSwitchTests {
    @Test func followersSeeEachChangeOfWhetherVMsPause() async {
        let pauses = PauseSwitch()
        var suspensions = pauses.suspensions().makeAsyncIterator()
        #expect(await suspensions.next() == false)
        #expect(pauses.set(.hours, PauseReason(kind: .hours, detail: "outside", suspendsVMs: false)))
        #expect(pauses.holdsClaims && !pauses.suspendsVMs)
        #expect(pauses.set(.busy, PauseReason(kind: .busy, detail: "80%", suspendsVMs: true)))
        #expect(await suspensions.next() == true)
        #expect(!pauses.set(.busy, PauseReason(kind: .busy, detail: "90%", suspendsVMs: true)), "a new percentage is no change")
        #expect(pauses.reasons.map(\.detail) == ["90%", "outside"])
        #expect(pauses.record(runner: "r")?.summary == "90%; outside")
        #expect(pauses.set(.busy, nil))
        #expect(await suspensions.next() == false)
        #expect(pauses.set(.hours, nil))
        #expect(!pauses.holdsClaims)
        #expect(pauses.record(runner: "r") == nil)
    }
}
