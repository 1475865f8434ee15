import ConstruirSystem
import Foundation
import JobModel
import Testing
import TestSupport
@testable import Runner

extension VMSuites {
/// Jobs made of `stages:` (job/construir.yml, no job/construir script) in real VMs.
@Suite(.serialized) struct StagesIntegrationTests {
    /// Runs a job `NAME_i0` whose only file is `job/construir.yml` with `manifest` through a
    /// runner over `dir/queue`; returns its done/ directory.
    static func runStagesJob(_ manifest: String, name: String, in dir: String) async throws -> String {
        let jobDirectory = "\(dir)/src-\(name)/job"
        try FileManager.default.createDirectory(atPath: jobDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
        try manifest.write(toFile: "\(jobDirectory)/construir.yml", atomically: true, encoding: .utf8)
        let (status, log) = try await runTool(["\(VMSuites.RunnerIntegrationTests.repository)/jobs/make-job.sh", "\(dir)/src-\(name)",
                                               "\(dir)/queue/\(name)_i0.tar.xz"])
        guard status == 0 else { throw ConstruirTestError("make-job.sh: \(log)") }
        try await makeTestRunner(in: dir, images: VMSuites.RunnerIntegrationTests.imagesDirectory, timeout: .seconds(180)).run()
        return "\(dir)/done/\(name)"
    }

    /// The lines of `stage` in the job's console.log.
    private func lines(_ done: String, _ stage: StageResult) throws -> String {
        let console = try Data(contentsOf: URL(fileURLWithPath: "\(done)/console.log"))
        guard let range = stage.console else { return "" }
        // The serial console ends lines with CR LF.
        return String(decoding: console[Int(range.offset)..<Int(range.offset + range.length)], as: UTF8.self)
            .replacingOccurrences(of: "\r\n", with: "\n")
    }

    @Test func anAllowedFailurePassesWithFailuresAndPrepareRunsFirst() async throws {
        try requireImage0()
        try await withTemporaryDirectory { dir in
            let done = try await Self.runStagesJob("""
                stages:
                  - name: build
                    script:
                      - test -f /tmp/prepared
                      - echo "building in $PWD"
                      - mkdir -p out && echo 42 > out/answer.txt
                    artifacts: [out/*.txt]
                  - name: lint
                    allow_failure: true
                    script:
                      - echo linting
                      - exit 7
                      - echo not reached
                  - name: test
                    script: [grep -q 42 out/answer.txt, echo tested]
                  - name: prepare
                    script: [touch /tmp/prepared, echo prepared]
                """, name: "staged", in: dir)
            let result = try readResult(done)
            #expect(result.status == .passedWithFailures, "\(result.error ?? "")")
            #expect(result.exitCode == 0)
            let stages = try #require(result.stages)
            #expect(stages.map(\.name) == ["prepare", "build", "lint", "test"])
            #expect(stages.map(\.status) == [.passed, .passed, .failed, .passed])
            #expect(stages[2].exitCode == 7 && stages[2].allowFailure)
            #expect(try lines(done, stages[0]) == "prepared\n")
            #expect(try lines(done, stages[1]) == "building in /job\n")
            #expect(try lines(done, stages[2]) == "linting\n")
            #expect(try lines(done, stages[3]) == "tested\n")
            #expect(stages.allSatisfy { $0.duration != nil })
            // The build's artifact is the output, with the console beside it.
            #expect(try String(contentsOfFile: "\(done)/output/out/answer.txt", encoding: .utf8) == "42\n")
            #expect(FileManager.default.fileExists(atPath: "\(done)/output/job_output.txt"))

            // The commands show the stages.
            let binary = try await construirBinary(repository: VMSuites.RunnerIntegrationTests.repository)
            let place = ["--queue", "\(dir)/queue", "--done", "\(dir)/done"]
            let (logsStatus, lint) = try await runTool([binary, "logs", "staged", "--stage", "lint"] + place)
            #expect(logsStatus == 0)
            #expect(lint.replacingOccurrences(of: "\r\n", with: "\n") == "linting\n", "\(lint)")
            let (missingStatus, missing) = try await runTool(["sh", "-c", "\"$0\" \"$@\" 2>&1", binary, "logs", "staged", "--stage", "deploy"] + place)
            #expect(missingStatus == 70 && missing.contains("no stage deploy (its stages: prepare, build, lint, test)"), "\(missing)")
            let (resultStatus, shown) = try await runTool([binary, "result", "staged"] + place)
            #expect(resultStatus == 0, "passed_with_failures exits 0")
            #expect(shown.contains("passed_with_failures") && shown.contains("stage lint") && shown.contains("failed, exit 7"), "\(shown)")
            let (_, status) = try await runTool([binary, "status"] + place)
            #expect(status.contains("3/4 stages passed"), "\(status)")
        }
    }

    @Test func aFailingStageFailsTheJobAndTheLaterStagesDoNotRun() async throws {
        try requireImage0()
        try await withTemporaryDirectory { dir in
            let done = try await Self.runStagesJob("""
                stages:
                  - name: build
                    script: [echo compiling, "false", echo not reached]
                  - name: test
                    script: [echo testing, touch /tmp/tested]
                """, name: "broken", in: dir)
            let result = try readResult(done)
            #expect(result.status == .failed)
            #expect(result.exitCode == 1)
            let stages = try #require(result.stages)
            #expect(stages.map(\.status) == [.failed, .skipped])
            #expect(try lines(done, stages[0]) == "compiling\n")
            let console = try String(contentsOfFile: "\(done)/console.log", encoding: .utf8)
            #expect(!console.contains("testing") && !console.contains("not reached"))
        }
    }
}
}
