import ConstruirSystem
import Foundation
import Testing
import TestSupport
@testable import JobModel
@testable import Runner

/// done/ on a 20 MiB tmpfs of its own, as on a host where done/ is a separate, small disk:
/// publishing copies across filesystems, and a big output fills it.
@Suite(.serialized, .enabled(if: getuid() == 0, "mounting a tmpfs as done/ needs root"))
struct DoneSpaceTests {
    /// Mounts a tmpfs of `megabytes` at `path` for `body`, and unmounts it afterwards.
    private func withTmpfs<T>(at path: String, megabytes: Int, _ body: () async throws -> T) async throws -> T {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mounted = try await runTool(["mount", "-t", "tmpfs", "-o", "size=\(megabytes)m", "tmpfs", path])
        try #require(mounted.status == 0, "mount -t tmpfs failed")
        defer { umount(path) }  // umount(2): a defer cannot wait for a tool
        return try await body()
    }

    /// A job as the runner leaves it in running/ once its result is committed.
    private func finishedJob(in running: String, file: String, outputBytes: Int, archiveBytes: Int = 64 << 10,
                             jobBytes: Int = 64 << 10) throws -> ClaimedJob {
        let name = try #require(JobName(fileName: file))
        let directory = "\(running)/1-\(name.safeName)"
        try FileManager.default.createDirectory(atPath: "\(directory)/output", withIntermediateDirectories: true)
        try Data(count: jobBytes).write(to: URL(fileURLWithPath: "\(directory)/job.tar.xz"))
        try Data(count: archiveBytes).write(to: URL(fileURLWithPath: "\(directory)/output.tar.xz"))
        try Data(count: outputBytes).write(to: URL(fileURLWithPath: "\(directory)/output/data.bin"))
        try Data("booted\n".utf8).write(to: URL(fileURLWithPath: "\(directory)/console.log"))
        let job = ClaimedJob(name: name, directory: directory, queuedAt: Date(timeIntervalSince1970: 1_800_000_000))
        let claim = ClaimRecord(id: job.id, job: file, runner: "host.1", host: "host", pid: getpid(), slot: 1,
                                claimed: job.queuedAt, queued: job.queuedAt, attempt: 1)
        try claim.encoded().write(to: URL(fileURLWithPath: "\(directory)/claim.json"))
        let result = JobResult(
            job: file, name: name.name, status: .passed, exitCode: 0, error: nil, image: .init(index: 0, sha256: nil),
            timestamps: .init(queued: job.queuedAt, started: job.queuedAt, finished: job.queuedAt + 10),
            durations: .init(wait: 0, total: 10), sizes: .init(job: 64 << 10), limits: nil, runner: "construir test")
        try result.encoded().write(to: URL(fileURLWithPath: job.resultPath))
        return job
    }

    private func freeBytes(_ path: String) -> Int64 {
        var st = statvfs()
        return statvfs(path, &st) == 0 ? Int64(st.f_bavail) * Int64(st.f_frsize) : -1
    }

    private func staging(in done: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: done).filter { $0.hasPrefix(".incoming-") }
    }

    @Test func aFailedPublishRemovesItsPartialCopy() async throws {
        try await withTemporaryDirectory { dir in
            try await withTmpfs(at: "\(dir)/done", megabytes: 20) {
                let done = try DoneStore(directory: "\(dir)/done")
                let job = try finishedJob(in: "\(dir)/running", file: "big_i0.tar.xz", outputBytes: 30 << 20)
                let free = freeBytes(done.directory)
                #expect(throws: (any Error).self) { try done.publish(job.directory, name: job.name.safeName) }
                #expect(try staging(in: done.directory) == [], "the half copy stays in done/")
                #expect(freeBytes(done.directory) == free, "done/ did not get its space back")
                // The job is where it was, whole, and no marker claims a copy is in done/.
                #expect(FileSystem.exists(job.jobPath) && FileSystem.exists(job.resultPath))
                #expect(try FileSystem.size(of: "\(job.directory)/output/data.bin") == 30 << 20)
                #expect(!FileSystem.exists("\(job.directory)/\(DoneStore.publishingMarker)"))
                #expect(!done.finishInterruptedPublish(of: job.directory) && FileSystem.exists(job.jobPath))
            }
        }
    }

    @Test func anOutputTooBigForDoneIsPublishedAsErrorAndTheNextJobStillLands() async throws {
        try await withTemporaryDirectory { dir in
            try await withTmpfs(at: "\(dir)/done", megabytes: 20) {
                let publisher = JobPublisher(done: try DoneStore(directory: "\(dir)/done"))
                let big = try finishedJob(in: "\(dir)/running", file: "big_i0.tar.xz", outputBytes: 30 << 20, archiveBytes: 1 << 20)
                let published = try publisher.publish(big, result: nil)
                #expect(published.directory == "\(dir)/done/big")
                let result = try #require(published.result)
                #expect(result.status == .error)
                #expect(result.exitCode == 0)
                let error = result.error ?? ""
                #expect(error.contains("output needs 30.0 MiB (31461376 bytes)"), "\(error)")
                #expect(error.contains("holds 20.0 MiB (20971520 bytes) in all"), "\(error)")
                #expect(error.contains("output.tar.xz has the whole output"), "\(error)")
                let onDisk = try JobResult.decode(Data(contentsOf: URL(fileURLWithPath: "\(published.directory)/result.json")))
                #expect(onDisk == result)
                let files = try FileManager.default.contentsOfDirectory(atPath: published.directory).sorted()
                #expect(files == ["claim.json", "console.log", "job.tar.xz", "output.tar.xz", "result.json"])
                #expect(try FileSystem.size(of: "\(published.directory)/output.tar.xz") == 1 << 20)
                #expect(!FileSystem.exists(big.directory))
                #expect(try staging(in: publisher.done.directory) == [])

                let hello = try finishedJob(in: "\(dir)/running", file: "hello_i0.tar.xz", outputBytes: 4096)
                let next = try publisher.publish(hello, result: nil)
                #expect(next.directory == "\(dir)/done/hello")
                #expect(next.result?.status == .passed)
                #expect(FileSystem.exists("\(next.directory)/output/data.bin"))
            }
        }
    }

    /// A job file larger than done/'s whole filesystem: waiting would stop the runner for good
    /// (it claims nothing while a job waits for done/), so it is published without it, and
    /// without losing its output, which fits.
    @Test func aJobFileTooBigForDoneIsLeftOutAndTheJobEnds() async throws {
        try await withTemporaryDirectory { dir in
            try await withTmpfs(at: "\(dir)/done", megabytes: 20) {
                let publisher = JobPublisher(done: try DoneStore(directory: "\(dir)/done"))
                let huge = try finishedJob(in: "\(dir)/running", file: "huge_i0.tar.xz", outputBytes: 4096, jobBytes: 25 << 20)
                let published = try publisher.publish(huge, result: nil)
                let result = try #require(published.result)
                #expect(result.status == .error)
                #expect((result.error ?? "").contains("job.tar.xz needs 25.0 MiB (26214400 bytes)"), "\(result.error ?? "")")
                let files = try FileManager.default.contentsOfDirectory(atPath: published.directory).sorted()
                #expect(files == ["claim.json", "console.log", "output", "output.tar.xz", "result.json"])
                #expect(!(result.error ?? "").contains("output needs"), "\(result.error ?? "")")
                #expect(!FileSystem.exists(huge.directory))
            }
        }
    }

    @Test func anUnpublishedJobIsRetriedWithBackoffAndLandsOnceSpaceIsFreed() async throws {
        try await withTemporaryDirectory { dir in
            try await withTmpfs(at: "\(dir)/done", megabytes: 20) {
                let done = try DoneStore(directory: "\(dir)/done")
                let publisher = JobPublisher(done: done)
                // Someone else's files leave done/ 256 KiB.
                let filler = "\(dir)/done/filler"
                try Data(count: Int(freeBytes(done.directory)) - (256 << 10)).write(to: URL(fileURLWithPath: filler))
                let job = try finishedJob(in: "\(dir)/running", file: "hello_i0.tar.xz", outputBytes: 2 << 20)
                let pending = PendingPublishes(initialDelay: .seconds(5), maxDelay: .seconds(300))
                let start = ContinuousClock.now
                let date = Date(timeIntervalSince1970: 1_800_000_000)

                for (attempt, at) in [(1, start), (2, start + .seconds(5))] {
                    #expect(pending.due(at: at).map(\.job.id) == (attempt == 1 ? [] : [job.id]))
                    let error = try #require(throws: ConstruirError.self) { try publisher.publish(job, result: nil) }
                    #expect(error.code == .noSpace)
                    #expect(error.message.contains("needs 2.1 MiB") && error.message.contains("free"), "\(error)")
                    let entry = pending.failed(job, result: nil, error: "\(error)", at: at, date: date)
                    JobPublisher.recordFailure(entry)
                    #expect(entry.failures == attempt)
                    #expect(try staging(in: done.directory) == [])
                    #expect(FileSystem.exists(job.jobPath) && FileSystem.exists(job.resultPath))
                }
                // Backoff: 5 s after the first failure, 10 s after the second.
                #expect(pending.due(at: start + .seconds(14)).isEmpty)

                // status shows it, from the directories alone.
                let observer = QueueObserver(queueDirectory: "\(dir)/queue", doneDirectory: done.directory, stateDirectory: dir)
                let shown = try #require(observer.running().first)
                #expect(shown.id == job.id)
                #expect(shown.unpublished?.failures == 2)
                #expect(shown.unpublished?.nextAttempt == date + 10)
                #expect(shown.unpublished?.error.contains("free") == true)

                try FileManager.default.removeItem(atPath: filler)
                let due = pending.due(at: start + .seconds(15))
                #expect(due.map(\.job.id) == [job.id])
                let published = try publisher.publish(due[0].job, result: due[0].result)
                pending.succeeded(job.id)
                #expect(pending.isEmpty)
                #expect(published.directory == "\(dir)/done/hello")
                #expect(published.result?.status == .passed)
                #expect(FileSystem.exists("\(published.directory)/output/data.bin"))
                #expect(!FileSystem.exists("\(published.directory)/\(DoneStore.failureRecord)"), "the runner's record went to done/")
                #expect(!FileSystem.exists(job.directory))
                #expect(observer.running().isEmpty)
            }
        }
    }

    /// A crash between removing a failed publish's marker and its copy leaves a staging copy no
    /// job refers to; the next start removes it, and keeps one a job still refers to.
    @Test func unreferencedStagingCopiesAreRemovedAtStart() async throws {
        try await withTemporaryDirectory { dir in
            let done = try DoneStore(directory: "\(dir)/done")
            for id in ["1-left", "2-live"] {
                try FileManager.default.createDirectory(atPath: "\(dir)/done/.incoming-\(id)/output", withIntermediateDirectories: true)
            }
            try FileManager.default.createDirectory(atPath: "\(dir)/running/2-live", withIntermediateDirectories: true)
            try "\(dir)/done/.incoming-2-live".write(toFile: "\(dir)/running/2-live/publishing", atomically: true, encoding: .utf8)
            done.removeLeftovers(runningDirectory: "\(dir)/running")
            #expect(try FileManager.default.contentsOfDirectory(atPath: done.directory) == [".incoming-2-live"])
        }
    }
}
