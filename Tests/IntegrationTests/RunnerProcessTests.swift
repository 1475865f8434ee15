import Foundation
import Testing
import TestSupport
@testable import JobModel
@testable import Runner
import VMHost

/// `construir run` as a separate process, so it can be killed with SIGKILL or stopped with a
/// real SIGTERM. The binary sits next to the test bundle in the build directory.
final class RunnerProcess: @unchecked Sendable {
    static var binary: String {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        return "\(directory)/construir"
    }

    let process = Process()
    let logPath: String

    /// `construir COMMAND ARGUMENTS...` (`run` unless told otherwise).
    init(_ arguments: [String], command: [String] = ["run"], environment: [String: String] = [:], log: String) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw ConstruirTestError("the construir binary is missing at \(Self.binary): run swift build first")
        }
        logPath = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        _ = try handle.seekToEnd()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = command + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    /// Waits for the process to exit; nil when it is still running at the deadline (then killed).
    func wait(timeout: Duration) async -> (reason: Process.TerminationReason, status: Int32)? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return (process.terminationReason, process.terminationStatus)
    }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
}

/// A queue directory tree for process tests: `DIR/queue`, `DIR/done`, images from the project.
struct QueueTree {
    let dir: String
    var queue: String { "\(dir)/queue" }
    var done: String { "\(dir)/done" }
    var running: String { "\(dir)/queue/.construir/running" }

    func arguments(_ extra: [String] = []) -> [String] {
        ["--queue", queue, "--done", done, "--images", "\(VMSuites.RunnerIntegrationTests.repository)/images",
         "--memory", "256M", "--timeout", "120s"] + extra
    }

    func names(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// Where each job file is: every submitted job must be in exactly one place.
    func jobFileCount() -> Int {
        names(in: queue).count
            + names(in: running).filter { FileManager.default.fileExists(atPath: "\(running)/\($0)/job.tar.xz") }.count
            + names(in: done).filter { FileManager.default.fileExists(atPath: "\(done)/\($0)/job.tar.xz") }.count
    }

    /// Files a runner makes while it works and must never leave behind once idle.
    func leftovers() -> [String] {
        let temporary = ["output.img", "status.img", "config.img", "publishing"]
        let enumerator = FileManager.default.enumerator(atPath: dir)
        var found: [String] = []
        while let path = enumerator?.nextObject() as? String {
            let name = (path as NSString).lastPathComponent
            let durableTemporary = (name.hasPrefix(".result.json.") || name.hasPrefix(".claim.json.")) && name.hasSuffix(".tmp")
            if temporary.contains(name) || durableTemporary || name.hasPrefix(".incoming-") || name.hasPrefix(".removing-") {
                found.append(path)
            }
        }
        return found
    }

    /// QEMU processes still running a VM of a job whose name starts with `prefix`.
    static func qemuProcesses(forJobsNamed prefix: String) -> [String] {
        StaleProcesses.qemuDomains { $0.hasPrefix("construir-") && $0.contains("-\(prefix)") }.keys.sorted()
    }
}

extension VMSuites {
/// The promises of issue 5 checked on the real binary: several runners share a queue and each
/// job runs once; a runner killed at any step loses nothing and leaves nothing running; the
/// attempt limit; SIGTERM with a grace period.
@Suite(.serialized) struct RunnerProcessTests {
    private func requireImage() throws {
        try requireImage0()
    }

    /// Packs `jobs/NAME` once and copies it into the queue under `names`.
    private func submit(_ job: String, as names: [String], into queue: String, scratch: String) async throws {
        try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
        let packed = "\(scratch)/\(job).packed"
        if !FileManager.default.fileExists(atPath: packed) {
            let repository = RunnerIntegrationTests.repository
            let (status, log) = try await runTool(["\(repository)/jobs/make-job.sh", "\(repository)/jobs/\(job)", packed])
            guard status == 0 else { throw ConstruirTestError("make-job.sh: \(log)") }
        }
        for name in names { try FileManager.default.copyItem(atPath: packed, toPath: "\(queue)/\(name)") }
    }

    @Test func twoRunnersShareAQueueAndRunEachJobOnce() async throws {
        try requireImage()
        try await withTemporaryDirectory { dir in
            let tree = QueueTree(dir: dir)
            let names = (1...10).map { String(format: "shared%02d_i0.tar.xz", $0) }
            try await submit("hello", as: names, into: tree.queue, scratch: dir)
            let runners = try (1...2).map {
                try RunnerProcess(tree.arguments(["--exit-when-idle", "--slots", "1"]), log: "\(dir)/runner\($0).log")
            }
            for runner in runners {
                let exit = await runner.wait(timeout: .seconds(600))
                #expect(exit?.reason == .exit && exit?.status == 0, "\(runner.log.suffix(2000))")
            }
            #expect(tree.names(in: tree.done) == names.map { String($0.dropLast("_i0.tar.xz".count)) })
            #expect(tree.names(in: tree.queue).isEmpty)
            #expect(tree.names(in: tree.running).isEmpty)
            var runnerIDs: Set<String> = []
            for name in tree.names(in: tree.done) {
                let result = try readResult("\(tree.done)/\(name)")
                #expect(result.status == .passed, "\(name): \(result.error ?? "")")
                #expect(result.attempt == 1)
                runnerIDs.insert(result.runnerID ?? "")
            }
            #expect(runnerIDs.count == 2, "jobs ran on \(runnerIDs)")
            #expect(QueueTree.qemuProcesses(forJobsNamed: "shared").isEmpty)
        }
    }

    @Test func aRunnerKilledAtAnyStepLosesNothingAndLeavesNothingRunning() async throws {
        try requireImage()
        try await withTemporaryDirectory { dir in
            let tree = QueueTree(dir: dir)
            let names = (1...3).map { "crash\($0)_i0.tar.xz" }
            try await submit("hello", as: names, into: tree.queue, scratch: dir)
            let arguments = tree.arguments(["--exit-when-idle", "--slots", "1", "--max-attempts", "20"])

            func checkInvariants(_ when: String) {
                #expect(tree.jobFileCount() == names.count, "after \(when): a job is missing or duplicated")
                let done = tree.names(in: tree.done)
                #expect(Set(done).count == done.count && done.allSatisfy { !$0.contains(".") }, "after \(when): \(done)")
                for id in tree.names(in: tree.running) {
                    let hasJob = FileManager.default.fileExists(atPath: "\(tree.running)/\(id)/job.tar.xz")
                    #expect(hasJob, "after \(when): running/\(id) has no job file")
                }
            }

            // Deterministic kills at each step of a job's life...
            var run = 0
            for point in ["claimed", "vm-started", "vm-stopped", "collected", "result-written", "published", "vm-started"] {
                run += 1
                let runner = try RunnerProcess(arguments, environment: ["CONSTRUIR_CRASH_AT": point], log: "\(dir)/run\(run).log")
                let exit = await runner.wait(timeout: .seconds(300))
                #expect(exit?.reason == .uncaughtSignal && exit?.status == SIGKILL, "\(point): \(String(describing: exit))\n\(runner.log.suffix(1500))")
                checkInvariants("a kill at \(point)")
            }
            // ...and at arbitrary moments.
            for delay in [1.5, 4.0, 7.0] {
                run += 1
                let runner = try RunnerProcess(arguments, log: "\(dir)/run\(run).log")
                try await Task.sleep(for: .seconds(delay))
                runner.signal(SIGKILL)
                _ = await runner.wait(timeout: .seconds(30))
                checkInvariants("a kill after \(delay) s")
            }
            // A clean run finishes the rest.
            let last = try RunnerProcess(arguments, log: "\(dir)/final.log")
            let exit = await last.wait(timeout: .seconds(300))
            #expect(exit?.reason == .exit && exit?.status == 0, "\(last.log.suffix(2000))")

            #expect(tree.names(in: tree.done) == ["crash1", "crash2", "crash3"])
            #expect(tree.names(in: tree.queue).isEmpty)
            #expect(tree.names(in: tree.running).isEmpty)
            var attempts: [Int] = []
            for name in tree.names(in: tree.done) {
                let result = try readResult("\(tree.done)/\(name)")
                #expect(result.status == .passed, "\(name): \(result.error ?? "")")
                attempts.append(result.attempt ?? 0)
                let greeting = try? String(contentsOfFile: "\(tree.done)/\(name)/output/hello.txt", encoding: .utf8)
                #expect(greeting?.contains("hello from construir") == true)
            }
            #expect(attempts.contains { $0 > 1 }, "no job was ever taken over: \(attempts)")
            #expect(tree.leftovers().isEmpty, "\(tree.leftovers())")
            #expect(QueueTree.qemuProcesses(forJobsNamed: "crash").isEmpty)
        }
    }

    @Test func aJobThatKeepsKillingItsRunnerEndsInError() async throws {
        try requireImage()
        try await withTemporaryDirectory { dir in
            let tree = QueueTree(dir: dir)
            try await submit("hello", as: ["doomed_i0.tar.xz"], into: tree.queue, scratch: dir)
            let arguments = tree.arguments(["--exit-when-idle", "--max-attempts", "2"])
            for run in 1...3 {
                let runner = try RunnerProcess(arguments, environment: ["CONSTRUIR_CRASH_AT": "vm-started"], log: "\(dir)/run\(run).log")
                let exit = await runner.wait(timeout: .seconds(300))
                let expected: Process.TerminationReason = run < 3 ? .uncaughtSignal : .exit
                #expect(exit?.reason == expected, "run \(run): \(String(describing: exit))\n\(runner.log.suffix(1500))")
            }
            let result = try readResult("\(tree.done)/doomed")
            #expect(result.status == .error)
            #expect(result.attempt == 3)
            #expect(result.error?.contains("died 2 times") == true, "\(result.error ?? "")")
            #expect(FileManager.default.fileExists(atPath: "\(tree.done)/doomed/job.tar.xz"))
            #expect(QueueTree.qemuProcesses(forJobsNamed: "doomed").isEmpty)
        }
    }

    @Test func keepDoneTrimsDoneToItsSizeButKeepsPinnedJobs() async throws {
        try requireImage()
        try await withTemporaryDirectory { dir in
            let tree = QueueTree(dir: dir)
            try FileManager.default.createDirectory(atPath: "\(tree.done)/precious", withIntermediateDirectories: true)
            try Data(repeating: 1, count: 100_000).write(to: URL(fileURLWithPath: "\(tree.done)/precious/result.json"))
            _ = FileManager.default.createFile(atPath: "\(tree.done)/precious/\(DoneStore.pinFile)", contents: nil)
            try await submit("hello", as: ["keep1_i0.tar.xz", "keep2_i0.tar.xz", "keep3_i0.tar.xz"], into: tree.queue, scratch: dir)
            let runner = try RunnerProcess(tree.arguments(["--exit-when-idle", "--slots", "1", "--keep-done", "1K"]), log: "\(dir)/runner.log")
            let exit = await runner.wait(timeout: .seconds(300))
            #expect(exit?.reason == .exit && exit?.status == 0, "\(runner.log.suffix(2000))")
            // Only the pinned job and the one published last remain; nothing half-removed.
            #expect(tree.names(in: tree.done) == ["keep3", "precious"])
            #expect(try readResult("\(tree.done)/keep3").status == .passed)
            #expect(try FileManager.default.contentsOfDirectory(atPath: tree.done).filter { $0.hasPrefix(".") }.isEmpty)
            #expect(runner.log.contains("removed old job from done/"))
        }
    }

    /// Waits until the guest agent of some job in `running` has started its script.
    private func waitForJobStart(in tree: QueueTree, timeout: Duration = .seconds(120)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            for id in tree.names(in: tree.running) {
                let console = (try? String(contentsOfFile: "\(tree.running)/\(id)/console.log", encoding: .utf8)) ?? ""
                if console.contains("running /job/construir") { return true }
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return false
    }

    @Test func sigtermLetsARunningJobFinishWithinTheGracePeriod() async throws {
        try requireImage()
        try await withTemporaryDirectory { dir in
            let tree = QueueTree(dir: dir)
            try FileManager.default.createDirectory(atPath: tree.queue, withIntermediateDirectories: true)
            try await JobFactory(directory: dir).make("\(tree.queue)/patient_i0.tar.xz", script: "sleep 6; echo finished\n")
            try await JobFactory(directory: dir).make("\(dir)/second.tar.xz", script: "echo never\n")
            let runner = try RunnerProcess(tree.arguments(["--grace", "120s", "--slots", "2"]), log: "\(dir)/runner.log")
            #expect(await waitForJobStart(in: tree), "\(runner.log.suffix(2000))")
            runner.signal(SIGTERM)
            let deadline = ContinuousClock.now + .seconds(10)
            while !runner.log.contains("stopping: no new jobs"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            // Queued after the stop, with a slot free: the stopping runner must not claim it.
            try FileManager.default.moveItem(atPath: "\(dir)/second.tar.xz", toPath: "\(tree.queue)/second_i0.tar.xz")
            let exit = await runner.wait(timeout: .seconds(120))
            #expect(exit?.reason == .exit && exit?.status == 0, "\(String(describing: exit)) \(runner.log.suffix(2000))")
            #expect(try readResult("\(tree.done)/patient").status == .passed)
            #expect(tree.names(in: tree.queue) == ["second_i0.tar.xz"])
        }
    }

    @Test func sigtermReturnsAJobStillRunningAfterTheGracePeriod() async throws {
        try requireImage()
        try await withTemporaryDirectory { dir in
            let tree = QueueTree(dir: dir)
            try await submit("forever", as: ["forever_i0.tar.xz"], into: tree.queue, scratch: dir)
            let submitted = try BuildImage.sha256(ofFile: "\(tree.queue)/forever_i0.tar.xz")
            let runner = try RunnerProcess(tree.arguments(["--grace", "2s"]), log: "\(dir)/runner.log")
            #expect(await waitForJobStart(in: tree), "\(runner.log.suffix(2000))")
            let stopped = ContinuousClock.now
            runner.signal(SIGTERM)
            let exit = await runner.wait(timeout: .seconds(60))
            #expect(exit?.reason == .exit && exit?.status == 0, "\(String(describing: exit)) \(runner.log.suffix(2000))")
            #expect(ContinuousClock.now - stopped >= .seconds(2))
            #expect(tree.names(in: tree.queue) == ["forever_i0.tar.xz"])
            #expect(try BuildImage.sha256(ofFile: "\(tree.queue)/forever_i0.tar.xz") == submitted)
            #expect(tree.names(in: tree.running).isEmpty)
            #expect(tree.names(in: tree.done).isEmpty)
            #expect(runner.log.contains("grace period over"))
            #expect(QueueTree.qemuProcesses(forJobsNamed: "forever").isEmpty)
        }
    }
}
}
