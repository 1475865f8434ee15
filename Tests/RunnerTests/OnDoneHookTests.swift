import Foundation
import Logging
import Testing
import TestSupport
@testable import JobModel
@testable import Runner

@Suite struct OnDoneHookTests {
    private func published(_ directory: String, status: JobResult.Status = .passed) -> PublishedJob {
        PublishedJob(directory: directory, result: sampleResult(job: "x_i0.tar.xz", status: status, finished: Date(), total: 1))
    }

    @Test func theHookGetsTheDoneDirectoryAsAnArgumentNeverAsShellText() async throws {
        try await withTemporaryDirectory { dir in
            // A path that would run a command if it were pasted into the shell command.
            let done = "\(dir)/done/we ird $(touch \(dir)/injected); x"
            let record = "\(dir)/record"
            let hook = OnDoneHook(command: "printf '%s\\n' \"$1\" \"$CONSTRUIR_JOB_STATUS\" \"$CONSTRUIR_DONE_DIR\" > '\(record)'",
                                  logger: Logger(label: "test"))
            let outcome = await hook.run(for: published(done, status: .failed))
            #expect(outcome == .exited(0))
            let lines = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n").map(String.init)
            #expect(lines == [done, "failed", done])
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/injected"))
        }
    }

    @Test func aFailingHookReportsItsStatusAndOutput() async throws {
        let (outcome, output) = await OnDoneHook.execute(["/bin/sh", "-c", "echo to-out; echo to-err >&2; exit 7"],
                                                         extraEnvironment: [:], timeout: .seconds(10))
        #expect(outcome == .exited(7))
        #expect(output == "to-out\nto-err")
    }

    @Test func aHangingHookIsKilledWithWhatItStarted() async throws {
        try await withTemporaryDirectory { dir in
            // The background sleep is in the hook's process group: it must die too. It would
            // outlive any test run, so finding it gone proves the kill, with no clock involved.
            let (outcome, _) = await OnDoneHook.execute(
                ["/bin/sh", "-c", "sleep 3600 & echo $! > '\(dir)/child'; wait"], extraEnvironment: [:], timeout: .seconds(2))
            #expect(outcome == .timedOut)
            let child = try #require(Int32(try String(contentsOfFile: "\(dir)/child", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            try await Task.sleep(for: .milliseconds(200))
            // Gone, or a zombie waiting for init to reap it: either way, no longer running.
            let state = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8))?
                .split(separator: ")").last?.split(separator: " ").first
            #expect(state == nil || state == "Z", "the hook's child \(child) is still alive (state \(state ?? ""))")
        }
    }

    @Test func theHookInheritsNoDescriptorButItsStandardOnes() async throws {
        // A pipe made without close-on-exec, as another thread of the runner might hold one.
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        let (outcome, output) = await OnDoneHook.execute(
            ["/bin/sh", "-c", "for fd in \(ends[0]) \(ends[1]); do [ -e /proc/$$/fd/$fd ] && echo open $fd; done; exit 0"],
            extraEnvironment: [:], timeout: .seconds(10))
        #expect(outcome == .exited(0))
        #expect(output == "", "the hook inherited: \(output)")
    }

    @Test func aMissingShellIsReportedNotFatal() async {
        let (outcome, _) = await OnDoneHook.execute(["/nonexistent/sh"], extraEnvironment: [:], timeout: .seconds(1))
        guard case .couldNotStart = outcome else { Issue.record("\(outcome)"); return }
    }
}
