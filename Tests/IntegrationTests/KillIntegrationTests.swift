import ConstruirSystem
import Foundation
import JobModel
import Testing
import TestSupport
import VMHost
@testable import Runner

extension VMSuites {
/// `construir kill` (the real binary) on a job whose VM runs in a runner of this process.
@Suite(.serialized) struct KillIntegrationTests {
    /// Writes a partial output, flushed to its disk, then runs until it is killed.
    static let untilKilledScript = """
        #!/bin/bash
        set -euo pipefail
        mkdir -p /tmp/out && echo partial > /tmp/out/partial.txt
        tar -C /tmp/out -cJf /dev/sdb .
        sync
        echo "running until killed"
        while true; do sleep 1; done
        """

    private func wait(_ what: String, seconds: Int = 180, until condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while try !condition() {
            guard ContinuousClock.now < deadline else { throw ConstruirTestError("waited \(seconds) s for \(what)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    @Test func killingARunningJobDestroysItsVMKeepsWhatItWroteAndTheNextJobRuns() async throws {
        try requireImage0()
        let hypervisor = try SharedHypervisor.instance.get()
        let repository = VMSuites.RunnerIntegrationTests.repository
        let binary = try await construirBinary(repository: repository)
        try await withTemporaryDirectory { dir in
            let (queue, done) = ("\(dir)/queue", "\(dir)/done")
            try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
            try await HubTree.makeJob(script: Self.untilKilledScript, in: dir, name: "forever", to: "\(queue)/forever_i0.tar.xz")
            try await HubTree.makeJob(script: "#!/bin/bash\necho after the kill\n", in: dir, name: "after", to: "\(dir)/after_i0.tar.xz")
            // Its timeout is far beyond the test's: only the kill can end the job in time.
            let runner = try makeTestRunner(in: dir, images: "\(repository)/images", timeout: .seconds(1800))
            async let finished: Void = runner.run()

            let running = "\(queue)/.construir/running"
            var jobID = ""
            try await wait("the job to run") {
                guard let id = try FileManager.default.contentsOfDirectory(atPath: running).first(where: { !$0.hasPrefix(".") }),
                      let console = try? String(contentsOfFile: "\(running)/\(id)/console.log", encoding: .utf8) else { return false }
                jobID = id
                return console.contains("running until killed")
            }
            let domain = JobDomain.name(jobID: jobID)
            #expect(hypervisor.runningDomainNamesNow().contains(domain))
            // Queued behind the running job (one slot): it runs once the kill frees the slot.
            try FileSystem.renameNoReplace("\(dir)/after_i0.tar.xz", "\(queue)/after_i0.tar.xz")

            let (status, output) = try await runTool([binary, "kill", "forever", "--queue", queue, "--done", done, "--wait", "5m"])
            #expect(status == 0, "construir kill: \(output)")
            #expect(output == "forever_i0.tar.xz: killed, \(done)/forever\n", "\(output)")
            #expect(!hypervisor.runningDomainNamesNow().contains(domain), "no QEMU is left of the killed job")

            try await finished
            let killed = try readResult("\(done)/forever")
            #expect(killed.status == .killed)
            #expect(killed.error?.hasPrefix(KillRequest.killedWhileRunning) == true, "\(killed.error ?? "")")
            #expect(killed.exitCode == nil)
            #expect(killed.durations.destroy != nil)
            let console = try String(contentsOfFile: "\(done)/forever/console.log", encoding: .utf8)
            #expect(console.contains("running until killed"), "the console log is kept")
            #expect(try String(contentsOfFile: "\(done)/forever/output/partial.txt", encoding: .utf8) == "partial\n",
                    "what the guest wrote before the kill is collected")
            #expect(FileSystem.exists("\(done)/forever/job.tar.xz"))
            #expect(!FileSystem.exists("\(done)/forever/\(KillRequest.fileName)"))

            let after = try readResult("\(done)/after")
            #expect(after.status == .passed, "\(after.error ?? "")")
            #expect(try String(contentsOfFile: "\(done)/after/output/job_output.txt", encoding: .utf8).contains("after the kill"))
            #expect(hypervisor.runningDomainNamesNow().filter { $0.hasPrefix(JobDomain.prefix) }.isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: running).filter { !$0.hasPrefix(".") }.isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: queue).filter { !$0.hasPrefix(".") }.isEmpty)
        }
    }
}
}
