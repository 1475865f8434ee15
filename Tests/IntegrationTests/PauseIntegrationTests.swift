import ConstruirSystem
import Foundation
import JobModel
import Synchronization
import Testing
import TestSupport
import VMHost
@testable import Runner

extension VMSuites {
/// A volunteer's runner pausing a real VM for the machine's owner (`run --pause-when-busy`).
@Suite(.serialized) struct PauseIntegrationTests {
    /// A job that prints `tick N` every half second, 16 times (8 s of running), then hands back
    /// how many ticks it printed.
    static let tickerScript = """
        #!/bin/bash
        set -euo pipefail
        for i in $(seq 1 16); do echo "tick $i"; sleep 0.5; done
        mkdir -p /tmp/out && echo 16 > /tmp/out/ticks.txt
        tar -C /tmp/out -cJf /dev/sdb .
        """

    private func wait(_ what: String, seconds: Int = 120, until condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while try !condition() {
            guard ContinuousClock.now < deadline else { throw ConstruirTestError("waited \(seconds) s for \(what)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The issue's two VM tests in one boot: a CPU burner pauses the running job (the domain is
    /// paused and its console stops), and the job, whose timeout is 20 s, stays paused for 30 s
    /// and still passes once the burner stops.
    @Test func aBusyMachinePausesTheJobWhichPassesAfterwardsWithoutBeingCharged() async throws {
        try requireImage0()
        let hypervisor = try SharedHypervisor.instance.get()
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            try await HubTree.makeJob(script: Self.tickerScript, in: dir, name: "ticker", to: "\(dir)/queue/ticker_i0.tar.xz")
            // The load the runner sees is the burner's alone: other tests keep this machine busy too.
            // SIGKILL: the test process's blocked signals are inherited, SIGTERM included.
            let burner = Mutex<Process?>(nil)
            defer { burner.withLock { $0.map { _ = kill($0.processIdentifier, SIGKILL) } } }
            let load = ProcessCPULoad(cpus: 1) { burner.withLock { $0.map { [$0.processIdentifier] } ?? [] } }
            let runner = try makeTestRunner(in: dir, images: VMSuites.RunnerIntegrationTests.repository + "/images",
                                            timeout: .seconds(20)) { _, configuration in
                configuration.pauseConditions = [BusyCondition(percent: 25, window: .seconds(2), interval: .milliseconds(500), source: load)]
            }
            async let finished: Void = runner.run()
            let running = "\(dir)/queue/.construir/running"
            var jobID = ""
            try await wait("the job to print its second tick") {
                guard let id = try FileManager.default.contentsOfDirectory(atPath: running).first(where: { !$0.hasPrefix(".") }),
                      let console = try? String(contentsOfFile: "\(running)/\(id)/console.log", encoding: .utf8) else { return false }
                jobID = id
                return console.contains("tick 2")
            }
            let console = "\(running)/\(jobID)/console.log"
            let domain = JobDomain.name(jobID: jobID)

            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "while :; do :; done"]
            try process.run()
            burner.withLock { $0 = process }
            try await wait("the domain to be paused", seconds: 30) { hypervisor.isPaused(name: domain) == true }
            let pausedAt = ContinuousClock.now
            let record = try #require(RunnerPause.readAll(in: "\(dir)/queue/.construir/runners")[runner.identity.id])
            #expect(record.reasons.map(\.kind) == [.busy] && record.suspendsVMs, "\(record)")

            // A second to let QEMU's last console bytes land, then the console must not grow.
            try await Task.sleep(for: .seconds(1))
            let frozen = try FileSystem.size(of: console)
            try await Task.sleep(until: pausedAt + .seconds(30))
            #expect(try FileSystem.size(of: console) == frozen, "the paused guest printed nothing")
            #expect(hypervisor.isPaused(name: domain) == true)

            kill(process.processIdentifier, SIGKILL)
            try await wait("the burner to end", seconds: 10) { !process.isRunning }
            burner.withLock { $0 = nil }
            try await finished

            let result = try readResult("\(dir)/done/ticker")
            #expect(result.status == .passed, "\(result.error ?? "")")
            let paused = try #require(result.durations.paused)
            #expect(paused >= 30, "durations.paused is \(paused) s")
            #expect(try #require(result.durations.vm) > 30, "the VM ran past its 20 s timeout, paused")
            #expect(try String(contentsOfFile: "\(dir)/done/ticker/output/ticks.txt", encoding: .utf8) == "16\n")
            let log = try String(contentsOfFile: "\(dir)/done/ticker/console.log", encoding: .utf8)
            #expect(log.contains("tick 16"))
            #expect(RunnerPause.readAll(in: "\(dir)/queue/.construir/runners").isEmpty)
        }
    }
}
}
