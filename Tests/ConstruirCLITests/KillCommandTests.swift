import ArgumentParser
import ConstruirSystem
import Foundation
import Testing
import TestSupport
@testable import ConstruirCLI
@testable import JobModel
@testable import Runner

/// `construir kill` as the command line runs it, on trees built by hand (no runner, no VM).
@Suite struct KillCommandTests {
    struct Tree {
        let dir: String
        var queue: String { "\(dir)/queue" }
        var done: String { "\(dir)/done" }
        var running: String { "\(dir)/queue/.construir/running" }

        init(_ dir: String) throws {
            self.dir = dir
            for directory in [queue, done, running] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
        }

        /// Runs `construir kill ARGUMENTS` on this tree and returns its exit code.
        func kill(_ arguments: [String]) async throws -> Int32 {
            let command = try #require(try Construir.parseAsRoot(["kill"] + arguments + ["--queue", queue, "--done", done]) as? KillCommand)
            do {
                try await command.run()
                return 0
            } catch let exit as ExitCode {
                return exit.rawValue
            }
        }

        func entries(_ directory: String) throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }.sorted()
        }

        func writeDone(_ directory: String, job: String, status: JobResult.Status) throws {
            try FileManager.default.createDirectory(atPath: "\(done)/\(directory)", withIntermediateDirectories: true)
            try sampleResult(job: job, status: status, exitCode: 0, finished: Date(timeIntervalSinceNow: -60), total: 5).encoded()
                .write(to: URL(fileURLWithPath: "\(done)/\(directory)/result.json"))
        }
    }

    @Test func aQueuedJobIsPublishedAsKilled() async throws {
        try await withTemporaryDirectory { dir in
            let tree = try Tree(dir)
            // Never inspected: a killed job is not opened, only moved.
            let bytes = Data("a job nobody will run".utf8)
            try bytes.write(to: URL(fileURLWithPath: "\(tree.queue)/victim_i0.tar.xz"))
            #expect(try await tree.kill(["victim"]) == 0)
            #expect(try tree.entries(tree.queue).isEmpty)
            #expect(try tree.entries(tree.running).isEmpty)
            #expect(try tree.entries(tree.done) == ["victim"])
            let result = try JobResult.decode(Data(contentsOf: URL(fileURLWithPath: "\(tree.done)/victim/result.json")))
            #expect(result.status == .killed)
            #expect(result.job == "victim_i0.tar.xz")
            #expect(result.error == KillRequest.killedBeforeBoot)
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(tree.done)/victim/job.tar.xz")) == bytes)
            #expect(JobExitCode.code(for: result.status) == 7, "construir result reports it with 7")
        }
    }

    @Test func aQueuedJobIsKilledRatherThanADoneOneOfTheSameName() async throws {
        try await withTemporaryDirectory { dir in
            let tree = try Tree(dir)
            try tree.writeDone("hello", job: "hello_i0.tar.xz", status: .passed)
            try Data("again".utf8).write(to: URL(fileURLWithPath: "\(tree.queue)/hello_i0.tar.xz"))
            #expect(try await tree.kill(["hello"]) == 0)
            #expect(try tree.entries(tree.done) == ["hello", "hello.2"])
            let result = try JobResult.decode(Data(contentsOf: URL(fileURLWithPath: "\(tree.done)/hello.2/result.json")))
            #expect(result.status == .killed)
        }
    }

    @Test func aDoneJobIsLeftAsItIs() async throws {
        try await withTemporaryDirectory { dir in
            let tree = try Tree(dir)
            try tree.writeDone("built", job: "built_i0.tar.xz", status: .failed)
            let before = try Data(contentsOf: URL(fileURLWithPath: "\(tree.done)/built/result.json"))
            #expect(try await tree.kill(["built"]) == JobExitCode.code(for: .failed))
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(tree.done)/built/result.json")) == before)
            #expect(try tree.entries(tree.done) == ["built"])
            #expect(try tree.entries("\(tree.done)/built") == ["result.json"])
        }
    }

    @Test func anUnknownJobIsAnError() async throws {
        try await withTemporaryDirectory { dir in
            let tree = try Tree(dir)
            #expect(try await tree.kill(["nosuchjob"]) == JobExitCode.construirFailed)
            #expect(try tree.entries(tree.done).isEmpty)
            #expect(try tree.entries(tree.running).isEmpty)
        }
    }

    @Test func aRunningJobGetsARequestAndNoResultWithoutARunner() async throws {
        try await withTemporaryDirectory { dir in
            let tree = try Tree(dir)
            let id = "1700000000000-1-1-ab-stuck"
            let directory = "\(tree.running)/\(id)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data("job".utf8).write(to: URL(fileURLWithPath: "\(directory)/job.tar.xz"))
            try ClaimRecord(id: id, job: "stuck_i0.tar.xz", runner: "elsewhere.1", host: "elsewhere", pid: 1, slot: 1,
                            claimed: Date(), queued: Date(), attempt: 1).encoded()
                .write(to: URL(fileURLWithPath: "\(directory)/claim.json"))
            // No runner acts on the request here: the wait ends without a result.
            #expect(try await tree.kill(["stuck", "--wait", "1s"]) == JobExitCode.noResult)
            let request = try JobResult.jsonDecoder().decode(KillRequest.self, from: Data(contentsOf: URL(fileURLWithPath: "\(directory)/kill")))
            #expect(request.pid == getpid())
            #expect(FileSystem.exists("\(directory)/job.tar.xz"), "the job stays where it is")
            #expect(try tree.entries(tree.done).isEmpty)
        }
    }

    @Test func killParses() throws {
        let command = try #require(try Construir.parseAsRoot(["kill", "hello", "--wait", "5m", "--state", "/tmp/s"]) as? KillCommand)
        #expect(command.wait == "5m")
        #expect(throws: (any Error).self) { try Construir.parseAsRoot(["kill"]) }
    }
}
