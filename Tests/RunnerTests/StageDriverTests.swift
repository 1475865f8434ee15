import ConstruirSystem
import Foundation
import JobModel
import Testing
import TestSupport
@testable import Runner

/// The stage script the runner writes, run by bash on this host with its paths pointed into a
/// temporary directory, and read back as the runner reads a console log.
@Suite struct StageDriverTests {
    /// Runs the script for `stages` in `dir/work`; returns its exit status and what it printed.
    private func run(_ stages: [JobStage], in dir: String, nonce: String = "00112233445566778899aabbccddeeff") async throws
        -> (status: Int32, console: [UInt8]) {
        try FileManager.default.createDirectory(atPath: "\(dir)/work", withIntermediateDirectories: true)
        let script = "\(dir)/stages.sh"
        try StageDriver.script(stages: stages, nonce: nonce).write(toFile: script, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: "\(dir)/output.img", contents: Data(count: 4096))
        try "console so far\n".write(toFile: "\(dir)/job_output.txt", atomically: true, encoding: .utf8)
        let (status, output) = try await runTool(
            ["env", "CONSTRUIR_STAGES_DIR=\(dir)/stages", "CONSTRUIR_OUTPUT_DISK=\(dir)/output.img",
             "CONSTRUIR_CONSOLE_COPY=\(dir)/job_output.txt", "bash", script], in: "\(dir)/work")
        return (status, Array(output.utf8))
    }

    private func lines(_ console: [UInt8], _ stage: StageResult) -> String {
        guard let range = stage.console else { return "" }
        return String(decoding: console[Int(range.offset)..<Int(range.offset + range.length)], as: UTF8.self)
    }

    @Test func anAllowedFailureDoesNotStopTheStagesAndEachStageHasItsLines() async throws {
        try await withTemporaryDirectory { dir in
            let stages = [
                JobStage(name: "build", script: ["echo building", "echo built > built.txt"]),
                JobStage(name: "lint", script: ["echo linting", "exit 3", "echo never"], allowFailure: true),
                JobStage(name: "test", script: ["test -f built.txt", "echo testing"], artifacts: ["*.txt"]),
                JobStage(name: "prepare", script: ["echo preparing"]),
            ]
            let nonce = "00112233445566778899aabbccddeeff"
            let (status, console) = try await run(stages, in: dir, nonce: nonce)
            #expect(status == 0)
            let results = StageDriver.results(console: console, stages: stages, nonce: nonce)
            #expect(results.map(\.name) == ["prepare", "build", "lint", "test"])
            #expect(results.map(\.status) == [.passed, .passed, .failed, .passed])
            #expect(results.map(\.exitCode) == [0, 0, 3, 0])
            #expect(results[2].allowFailure)
            #expect(lines(console, results[0]) == "preparing\n")
            #expect(lines(console, results[1]) == "building\n")
            #expect(lines(console, results[2]) == "linting\n", "set -e stopped the stage at its failing line")
            #expect(lines(console, results[3]) == "testing\n")
            #expect(results.allSatisfy { ($0.duration ?? -1) >= 0 && ($0.start ?? -1) >= 0 })
            // The artifacts and job_output.txt became the output, as a tar.xz.
            let (listed, listing) = try await runTool(["tar", "-tJf", "\(dir)/output.img"])
            #expect(listed == 0)
            let entries = listing.split(separator: "\n")
            #expect(entries.contains("./built.txt") && entries.contains("job_output.txt"), "\(listing)")
        }
    }

    @Test func artifactsIsThereForTheStagesAndItsFilesAreTheOutput() async throws {
        try await withTemporaryDirectory { dir in
            // As a packaged script job finds /repo/artifacts, so do stages.
            let stages = [JobStage(name: "build", script: ["echo made > artifacts/b.txt", "mkdir -p artifacts/sub", "echo deep > artifacts/sub/c.txt"]),
                          JobStage(name: "log", script: ["echo logged > log.txt"], artifacts: ["log.txt"])]
            let (status, console) = try await run(stages, in: dir, nonce: "0f0e0d0c0b0a09080706050403020100")
            #expect(status == 0, "\(String(decoding: console, as: UTF8.self))")
            let (listed, listing) = try await runTool(["tar", "-tJf", "\(dir)/output.img"])
            #expect(listed == 0)
            let entries = Set(listing.split(separator: "\n").map(String.init))
            #expect(entries.isSuperset(of: ["./b.txt", "./sub/c.txt", "./log.txt", "job_output.txt"]), "\(listing)")
        }
    }

    @Test func aFailingStageStopsTheJobAndTheRestAreSkipped() async throws {
        try await withTemporaryDirectory { dir in
            let stages = [JobStage(name: "build", script: ["echo one", "false", "echo two"]),
                          JobStage(name: "test", script: ["echo must not run"])]
            let nonce = "ffeeddccbbaa99887766554433221100"
            let (status, console) = try await run(stages, in: dir, nonce: nonce)
            #expect(status == 1)
            let results = StageDriver.results(console: console, stages: stages, nonce: nonce)
            #expect(results.map(\.status) == [.failed, .skipped])
            #expect(results[1].console == nil && results[1].exitCode == nil)
            #expect(!String(decoding: console, as: UTF8.self).contains("must not run"))
            #expect(!String(decoding: console, as: UTF8.self).contains("two"))
            // No artifacts: the output disk is left to the agent (it stores job_output.txt).
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/output.img")).allSatisfy { $0 == 0 })
        }
    }

    @Test func scriptLinesAreNeverInterpretedByTheDriver() async throws {
        try await withTemporaryDirectory { dir in
            // Quotes, expansions and a would-be heredoc end are the stage's own text.
            let stages = [JobStage(name: "quotes", script: ["x='$(echo no)'; echo \"$x\" 'it''s' `echo yes`", "cat <<'EOF'\nliteral $HOME\nEOF"])]
            let nonce = "0123456789abcdef0123456789abcdef"
            let (status, console) = try await run(stages, in: dir, nonce: nonce)
            #expect(status == 0)
            let results = StageDriver.results(console: console, stages: stages, nonce: nonce)
            #expect(lines(console, results[0]) == "$(echo no) its yes\nliteral $HOME\n")
        }
    }

    @Test func forgedOrBrokenMarkersAreNotBelieved() {
        let stages = [JobStage(name: "a", script: ["x"]), JobStage(name: "b", script: ["y"])]
        let nonce = "aa"
        let console = Array("""
            ::construir-stage bb begin 0 100::
            ::construir-stage aa begin 0 1000::
            out
            ::construir-stage aa end 0 0 2000::
            ::construir-stage aa end 0 9 3000::
            ::construir-stage aa begin 7 1000::
            ::construir-stage aa begin 1 x::
            ::construir-stage aa begin 1 2500::
            half
            """.utf8)
        let results = StageDriver.results(console: console, stages: stages, nonce: nonce)
        #expect(results[0].status == .passed && results[0].exitCode == 0, "only the first end counts")
        #expect(results[0].duration == 1)
        #expect(results[1].status == .interrupted, "begun, never ended")
        #expect(String(decoding: console[Int(results[1].console!.offset)...], as: UTF8.self) == "half")
    }
}
