import Foundation
import Testing
import TestSupport
@testable import JobModel
@testable import Runner

@Suite struct JobQueueTests {
    private func touch(_ path: String, _ text: String = "x", mtime: Int? = nil) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        if let mtime {
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: Double(mtime))], ofItemAtPath: path)
        }
    }

    @Test func pendingListsJobsOldestFirstAndSkipsNonJobs() async throws {
        try await withTemporaryDirectory { dir in
            let queueDir = "\(dir)/queue"
            try FileManager.default.createDirectory(atPath: queueDir, withIntermediateDirectories: true)
            try touch("\(queueDir)/b_i0.tar.xz", mtime: 2000)
            try touch("\(queueDir)/a_i0.tar.xz", mtime: 3000)
            try touch("\(queueDir)/c.tar.xz", mtime: 1000)
            try touch("\(queueDir)/.upload.tar.xz", mtime: 500)
            try touch("\(queueDir)/notes.txt", mtime: 500)
            try FileManager.default.createDirectory(atPath: "\(queueDir)/dir.tar.xz", withIntermediateDirectories: true)
            let queue = try JobQueue(queueDirectory: queueDir, stateDirectory: "\(queueDir)/.construir")
            #expect(queue.pending().map(\.fileName) == ["c.tar.xz", "b_i0.tar.xz", "a_i0.tar.xz"])
        }
    }

    @Test func claimMovesTheFileAndASecondClaimGetsNothing() async throws {
        try await withTemporaryDirectory { dir in
            let queueDir = "\(dir)/queue"
            try FileManager.default.createDirectory(atPath: queueDir, withIntermediateDirectories: true)
            try touch("\(queueDir)/job_i0.tar.xz", "payload", mtime: 1234)
            let first = try JobQueue(queueDirectory: queueDir, stateDirectory: "\(dir)/state-a")
            let second = try JobQueue(queueDirectory: queueDir, stateDirectory: "\(dir)/state-b")
            let runnerA = try RunnerIdentity.acquire(stateDirectory: "\(dir)/state-a")
            let runnerB = try RunnerIdentity.acquire(stateDirectory: "\(dir)/state-b")
            let name = try #require(first.pending().first)
            let claimed = try #require(try first.claim(name, by: runnerA))
            #expect(try second.claim(name, by: runnerB) == nil)
            #expect(!FileManager.default.fileExists(atPath: "\(queueDir)/job_i0.tar.xz"))
            #expect(try String(contentsOfFile: claimed.jobPath, encoding: .utf8) == "payload")
            #expect(claimed.queuedAt == Date(timeIntervalSince1970: 1234))
            // The losing runner leaves no directory behind.
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/state-b/running").isEmpty)
        }
    }

    @Test func requeuePutsAJobBackUnderItsName() async throws {
        try await withTemporaryDirectory { dir in
            let queueDir = "\(dir)/queue"
            try FileManager.default.createDirectory(atPath: queueDir, withIntermediateDirectories: true)
            try touch("\(queueDir)/one_i0.tar.xz")
            let queue = try JobQueue(queueDirectory: queueDir, stateDirectory: "\(dir)/state")
            let runner = try RunnerIdentity.acquire(stateDirectory: "\(dir)/state")
            let oneName = try #require(JobName(fileName: "one_i0.tar.xz"))
            let one = try #require(try queue.claim(oneName, by: runner))
            try touch("\(queueDir)/one_i0.tar.xz", "a newer job of the same name")
            try queue.requeue(one)
            #expect(Set(queue.pending().map(\.fileName)) == ["one_i0.tar.xz", "one_i0-requeued2.tar.xz"])
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/state/running").isEmpty)
        }
    }

    @Test func claimRecordNamesTheRunnerAndSlot() async throws {
        try await withTemporaryDirectory { dir in
            let queueDir = "\(dir)/queue"
            try FileManager.default.createDirectory(atPath: queueDir, withIntermediateDirectories: true)
            try touch("\(queueDir)/job_i1.tar.xz", mtime: 1000)
            let queue = try JobQueue(queueDirectory: queueDir, stateDirectory: "\(dir)/state")
            let runner = try RunnerIdentity.acquire(stateDirectory: "\(dir)/state")
            let name = try #require(JobName(fileName: "job_i1.tar.xz"))
            let job = try #require(try queue.claim(name, by: runner, slot: 2))
            let record = try ClaimRecord.decode(Data(contentsOf: URL(fileURLWithPath: "\(job.directory)/claim.json")))
            #expect(record.id == job.id)
            #expect(record.job == "job_i1.tar.xz")
            #expect(record.runner == runner.id)
            #expect(record.slot == 2)
            #expect(record.attempt == 1)
            #expect(record.pid == getpid())
            #expect(record.queued == Date(timeIntervalSince1970: 1000))
        }
    }

    @Test func identitiesAreExclusiveAndFreedWhenDropped() async throws {
        try await withTemporaryDirectory { dir in
            var first: RunnerIdentity? = try RunnerIdentity.acquire(stateDirectory: dir)
            let second = try RunnerIdentity.acquire(stateDirectory: dir)
            let firstID = try #require(first?.id)
            #expect(firstID != second.id)
            #expect(firstID.hasSuffix(".1") && second.id.hasSuffix(".2"))
            #expect(second.isAlive(firstID))
            first = nil
            // A child that libvirt forks for a VM test running beside this one holds a copy of
            // the lock's descriptor until it closes it before exec: give it that moment.
            let deadline = ContinuousClock.now + .seconds(5)
            while second.isAlive(firstID), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(!second.isAlive(firstID))
            // A restarted runner takes the lowest free identity: the dead one's.
            #expect(try RunnerIdentity.acquire(stateDirectory: dir).id == firstID)
        }
    }

    @Test func orphansOfADeadRunnerAreAdoptedOnceWithTheAttemptCounted() async throws {
        try await withTemporaryDirectory { dir in
            let queueDir = "\(dir)/queue"
            try FileManager.default.createDirectory(atPath: queueDir, withIntermediateDirectories: true)
            try touch("\(queueDir)/two_i0.tar.xz", "payload")
            let queue = try JobQueue(queueDirectory: queueDir, stateDirectory: "\(dir)/state")
            let alive = try RunnerIdentity.acquire(stateDirectory: "\(dir)/state")
            let name = try #require(JobName(fileName: "two_i0.tar.xz"))
            let claimed: ClaimedJob
            do {
                let dead = try RunnerIdentity.acquire(stateDirectory: "\(dir)/state")
                claimed = try #require(try queue.claim(name, by: dead))
                try touch("\(claimed.directory)/output.img", "half-written disk")
                try FileManager.default.createDirectory(atPath: "\(claimed.directory)/output", withIntermediateDirectories: true)
                #expect(queue.orphans(isAlive: { alive.isAlive($0) }).isEmpty)  // its runner still lives
            }
            let orphans = queue.orphans(isAlive: { alive.isAlive($0) })
            #expect(orphans.map(\.id) == [claimed.id])
            let orphan = try #require(orphans.first)
            let adopted = try #require(try queue.adopt(orphan, by: alive, slot: 3))
            #expect(adopted.attempt == 2)
            #expect(adopted.slot == 3)
            #expect(adopted.name.fileName == "two_i0.tar.xz")
            #expect(try String(contentsOfFile: adopted.jobPath, encoding: .utf8) == "payload")
            #expect(try FileManager.default.contentsOfDirectory(atPath: adopted.directory).sorted() == ["claim.json", "job.tar.xz"])
            // A second runner racing for the same orphan gets nothing.
            #expect(try queue.adopt(orphan, by: alive) == nil)
            // Now owned by a live runner: no longer an orphan.
            #expect(queue.orphans(isAlive: { alive.isAlive($0) }).isEmpty)
            // A claim of this identity by an earlier process (the one that died before this
            // runner took the identity over) is an orphan.
            var record = try ClaimRecord.decode(Data(contentsOf: URL(fileURLWithPath: "\(adopted.directory)/claim.json")))
            record.pid = getpid() + 1
            try record.encoded().write(to: URL(fileURLWithPath: "\(adopted.directory)/claim.json"))
            #expect(queue.orphans(isAlive: { alive.isAlive($0) }).map(\.id) == [adopted.id])
        }
    }

    @Test func doneNeverOverwritesAnEarlierJob() async throws {
        try await withTemporaryDirectory { dir in
            let done = try DoneStore(directory: "\(dir)/done")
            var targets: [String] = []
            for round in 1...3 {
                let source = "\(dir)/run\(round)"
                try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
                try touch("\(source)/result.json", "\(round)")
                targets.append(try done.publish(source, name: "hello"))
            }
            #expect(targets.map { ($0 as NSString).lastPathComponent } == ["hello", "hello.2", "hello.3"])
            #expect(try String(contentsOfFile: "\(dir)/done/hello/result.json", encoding: .utf8) == "1")
            #expect(try String(contentsOfFile: "\(dir)/done/hello.3/result.json", encoding: .utf8) == "3")
        }
    }
}
