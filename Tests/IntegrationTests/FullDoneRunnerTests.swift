import ConstruirSystem
import Foundation
import Testing
import TestSupport
@testable import JobModel
@testable import Runner

extension VMSuites {
/// A real runner with done/ on a full 20 MiB tmpfs: a finished job it cannot publish stays in
/// running/, is retried while the runner runs, and lands once space is freed; meanwhile nothing
/// new is claimed. No VM boots: the finished job is one a dead runner left, and the queued one
/// is rejected before booting.
@Suite(.serialized, .enabled(if: getuid() == 0, "mounting a tmpfs as done/ needs root"))
struct FullDoneRunnerTests {
    @Test func anUnpublishedJobIsRetriedUntilDoneHasRoomAndNothingIsClaimedMeanwhile() async throws {
        try await withTemporaryDirectory { dir in
            let done = "\(dir)/done"
            try FileManager.default.createDirectory(atPath: done, withIntermediateDirectories: true)
            try #require(try await runTool(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", done]).status == 0)
            defer { umount(done) }  // umount(2): a defer cannot wait for a tool

            // A job whose runner died after writing its result: only publishing is left.
            let running = "\(dir)/queue/.construir/running/1-hello"
            try FileManager.default.createDirectory(atPath: "\(running)/output", withIntermediateDirectories: true)
            try Data(count: 64 << 10).write(to: URL(fileURLWithPath: "\(running)/job.tar.xz"))
            try Data(count: 2 << 20).write(to: URL(fileURLWithPath: "\(running)/output/data.bin"))
            let queued = Date(timeIntervalSince1970: 1_800_000_000)
            try ClaimRecord(id: "1-hello", job: "hello_i0.tar.xz", runner: "gone.7", host: "gone", pid: 1, slot: 1,
                            claimed: queued, queued: queued, attempt: 1).encoded()
                .write(to: URL(fileURLWithPath: "\(running)/claim.json"))
            try JobResult(job: "hello_i0.tar.xz", name: "hello", status: .passed, exitCode: 0, error: nil,
                          image: .init(index: 0, sha256: nil), timestamps: .init(queued: queued, started: queued, finished: queued + 5),
                          durations: .init(wait: 0, total: 5), sizes: .init(job: 64 << 10), limits: nil, runner: "construir test")
                .encoded().write(to: URL(fileURLWithPath: "\(running)/result.json"))
            try Data("not a job".utf8).write(to: URL(fileURLWithPath: "\(dir)/queue/junk_i0.tar.xz"))
            // Someone else's files leave done/ 256 KiB.
            let filler = "\(done)/filler"
            var st = statvfs()
            try #require(statvfs(done, &st) == 0)
            try Data(count: Int(st.f_bavail) * Int(st.f_frsize) - (256 << 10)).write(to: URL(fileURLWithPath: filler))

            let runner = try makeTestRunner(in: dir, images: "\(dir)/images", timeout: .seconds(60)) { _, configuration in
                configuration.publishRetryDelay = .milliseconds(50)
                configuration.publishRetryMaxDelay = .milliseconds(200)
            }
            let observer = QueueObserver(queueDirectory: "\(dir)/queue", doneDirectory: done)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await runner.run() }
                // Wait (on the directories, as `status` sees them) for the second failed attempt.
                var waited = 0
                while (observer.running().first?.unpublished?.failures ?? 0) < 2 {
                    waited += 1
                    try #require(waited < 1200, "the runner did not retry the publish within 60 s")
                    try await Task.sleep(for: .milliseconds(50))
                }
                let shown = try #require(observer.running().first)
                #expect(shown.unpublished?.error.contains("needs 2.1 MiB") == true, "\(String(describing: shown.unpublished))")
                #expect(runner.pending.count == 1)
                #expect(observer.queued().map(\.file) == ["junk_i0.tar.xz"], "a job was claimed while done/ was full")
                #expect(try FileManager.default.contentsOfDirectory(atPath: done) == ["filler"])

                try FileManager.default.removeItem(atPath: filler)
                try await group.waitForAll()  // --exit-when-idle: returns once both jobs are in done/
            }
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: done)) == ["hello", "junk"])
            #expect(try readResult("\(done)/hello").status == .passed)
            #expect(try FileSystem.size(of: "\(done)/hello/output/data.bin") == 2 << 20)
            #expect(!FileSystem.exists("\(done)/hello/\(DoneStore.failureRecord)"))
            #expect(try readResult("\(done)/junk").status == .rejected)
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/queue/.construir/running").isEmpty)
            #expect(runner.pending.isEmpty)
        }
    }
}
}
