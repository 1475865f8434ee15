import Foundation
import Testing
import TestSupport
@testable import JobModel

@Suite struct QueueSnapshotTests {
    private func touch(_ path: String, mtime: Double) throws {
        try Data("x".utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: mtime)], ofItemAtPath: path)
    }

    private func publish(_ result: JobResult, as name: String, in done: String) throws {
        try FileManager.default.createDirectory(atPath: "\(done)/\(name)", withIntermediateDirectories: true)
        try result.encoded().write(to: URL(fileURLWithPath: "\(done)/\(name)/result.json"))
    }

    /// queue/ with two jobs and junk, running/ with a claim.json job and a source-name-only job,
    /// done/ with three results, a staging directory and a directory without result.json.
    private func makeTree(_ dir: String) throws -> QueueObserver {
        let queue = "\(dir)/queue", running = "\(dir)/queue/.construir/running", done = "\(dir)/done"
        for path in [queue, running, done] { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        try touch("\(queue)/second_i1.tar.xz", mtime: 2000)
        try touch("\(queue)/first.tar.xz", mtime: 1000)
        try touch("\(queue)/notes.txt", mtime: 500)

        try FileManager.default.createDirectory(atPath: "\(running)/100-1-1-new", withIntermediateDirectories: true)
        try Data("""
            {"id": "100-1-1-new", "job": "new_i1.tar.xz", "runner": "r1", "host": "h", "pid": 42, "slot": 2,
             "claimed": "2026-11-22T05:00:00.250Z", "queued": "2026-11-22T04:59:00.000Z", "attempt": 1}
            """.utf8).write(to: URL(fileURLWithPath: "\(running)/100-1-1-new/claim.json"))
        try FileManager.default.createDirectory(atPath: "\(running)/99-1-1-old", withIntermediateDirectories: true)
        try "old.tar.xz".write(toFile: "\(running)/99-1-1-old/source-name", atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_700_000_000)], ofItemAtPath: "\(running)/99-1-1-old")
        try FileManager.default.createDirectory(atPath: "\(running)/98-being-made", withIntermediateDirectories: true)

        let base = Date(timeIntervalSince1970: 1_800_000_000)
        try publish(sampleResult(job: "hello_i0.tar.xz", status: .passed, exitCode: 0, finished: base, total: 12), as: "hello", in: done)
        try publish(sampleResult(job: "hello_i0.tar.xz", status: .failed, exitCode: 3, finished: base + 60, total: 30), as: "hello.2", in: done)
        try publish(sampleResult(job: "junk.tar.xz", status: .rejected, finished: base - 60, total: 0.01), as: "junk", in: done)
        try FileManager.default.createDirectory(atPath: "\(done)/.incoming-x", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(done)/empty", withIntermediateDirectories: true)
        return QueueObserver(queueDirectory: queue, doneDirectory: done)
    }

    @Test func snapshotReadsQueueRunningAndDone() async throws {
        try await withTemporaryDirectory { dir in
            let observer = try makeTree(dir)
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            let snapshot = observer.snapshot(now: now, doneLimit: 2)

            #expect(snapshot.queued.map(\.file) == ["first.tar.xz", "second_i1.tar.xz"])
            #expect(snapshot.queued.map(\.position) == [1, 2])
            #expect(snapshot.queued.map(\.image) == [0, 1])

            #expect(snapshot.running.map(\.file) == ["old.tar.xz", "new_i1.tar.xz"])
            let old = try #require(snapshot.running.first)
            #expect(!old.fromClaimRecord)
            #expect(old.claimed == Date(timeIntervalSince1970: 1_700_000_000))
            #expect(old.elapsed == 100_000_000)
            let new = try #require(snapshot.running.last)
            #expect(new.fromClaimRecord)
            #expect(new.slot == 2 && new.runner == "r1" && new.pid == 42 && new.image == 1)
            #expect(abs(new.claimed.timeIntervalSince1970 - 1_795_323_600.25) < 0.001)

            #expect(snapshot.doneTotal == 3)
            #expect(snapshot.done.map(\.directory) == ["hello.2", "hello"])
            #expect(snapshot.done.first?.result.exitCode == 3)
        }
    }

    @Test func snapshotJSONRoundTripsAndUsesSnakeCase() async throws {
        try await withTemporaryDirectory { dir in
            let snapshot = try makeTree(dir).snapshot(now: Date(timeIntervalSince1970: 1_800_000_000))
            let data = try snapshot.encoded()
            let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
            #expect(object["done_total"] as? Int == 3)
            let running = try #require(object["running"] as? [[String: Any]])
            #expect(running.last?["from_claim_record"] as? Bool == true)
            let done = try #require(object["done"] as? [[String: Any]])
            let result = try #require(done.first?["result"] as? [String: Any])
            #expect(result["exit_code"] as? Int == 3)
            #expect((result["timestamps"] as? [String: Any])?["finished"] as? String == "2027-01-15T08:01:00.000Z")
        }
    }

    @Test func aFinishedJobDoneDidNotTakeShowsAsUnpublished() async throws {
        try await withTemporaryDirectory { dir in
            let observer = try makeTree(dir)
            let record = PublishFailure(error: "done/ is out of space", failures: 2, firstFailure: Date(timeIntervalSince1970: 1_800_000_000),
                                        nextAttempt: Date(timeIntervalSince1970: 1_800_000_015))
            try record.encoded().write(to: URL(fileURLWithPath: "\(dir)/queue/.construir/running/100-1-1-new/\(PublishFailure.fileName)"))
            let snapshot = observer.snapshot(now: Date(timeIntervalSince1970: 1_800_000_000))
            #expect(snapshot.running.map { $0.unpublished } == [nil, record])
            let object = try #require(try JSONSerialization.jsonObject(with: snapshot.encoded()) as? [String: Any])
            let running = try #require(object["running"] as? [[String: Any]])
            #expect(running.first?["unpublished"] == nil)
            let shown = try #require(running.last?["unpublished"] as? [String: Any])
            #expect(shown["failures"] as? Int == 2)
            #expect(shown["next_attempt"] as? String == "2027-01-15T08:00:15.000Z")
            #expect(shown["error"] as? String == "done/ is out of space")
        }
    }

    @Test func locateFindsDoneRunningAndQueuedJobs() async throws {
        try await withTemporaryDirectory { dir in
            let observer = try makeTree(dir)
            #expect(observer.locate("hello") == .done(.init(directory: "hello", result: observer.result(directory: "hello")!)))
            guard case .done(let latest)? = observer.locate("hello_i0.tar.xz") else { Issue.record("not found"); return }
            #expect(latest.directory == "hello.2")
            guard case .running(let running)? = observer.locate("new") else { Issue.record("not running"); return }
            #expect(running.id == "100-1-1-new")
            guard case .queued(let queued)? = observer.locate("second_i1.tar.xz") else { Issue.record("not queued"); return }
            #expect(queued.position == 2)
            #expect(observer.locate("nothing") == nil)
            #expect(observer.locate("../done/hello") == nil)
            #expect(observer.locate("empty") == nil)
        }
    }

    @Test func observingCreatesNothing() async throws {
        try await withTemporaryDirectory { dir in
            let observer = QueueObserver(queueDirectory: "\(dir)/queue", doneDirectory: "\(dir)/done")
            let snapshot = observer.snapshot()
            #expect(snapshot.queued.isEmpty && snapshot.running.isEmpty && snapshot.done.isEmpty)
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            _ = observer.snapshot()
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["queue"])
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/queue").isEmpty)
        }
    }

    @Test func doneNamesAreOnlyWhatDoneStoreWrites() {
        #expect(QueueObserver.isDoneName("hello"))
        #expect(QueueObserver.isDoneName("hello.2"))
        for bad in ["", ".", "..", ".incoming-x", "a/b", "a b", "<script>", "é"] {
            #expect(!QueueObserver.isDoneName(bad), "\(bad)")
        }
    }
}
