import Foundation
import Testing
import TestSupport
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
            let name = try #require(first.pending().first)
            let claimed = try #require(try first.claim(name))
            #expect(try second.claim(name) == nil)
            #expect(!FileManager.default.fileExists(atPath: "\(queueDir)/job_i0.tar.xz"))
            #expect(try String(contentsOfFile: claimed.jobPath, encoding: .utf8) == "payload")
            #expect(claimed.queuedAt == Date(timeIntervalSince1970: 1234))
            // The losing runner leaves no directory behind.
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/state-b/running").isEmpty)
        }
    }

    @Test func requeueAndRecoveryPutJobsBackUnderTheirNames() async throws {
        try await withTemporaryDirectory { dir in
            let queueDir = "\(dir)/queue"
            try FileManager.default.createDirectory(atPath: queueDir, withIntermediateDirectories: true)
            try touch("\(queueDir)/one_i0.tar.xz")
            try touch("\(queueDir)/two_i0.tar.xz")
            let queue = try JobQueue(queueDirectory: queueDir, stateDirectory: "\(dir)/state")
            let oneName = try #require(JobName(fileName: "one_i0.tar.xz"))
            let twoName = try #require(JobName(fileName: "two_i0.tar.xz"))
            let one = try #require(try queue.claim(oneName))
            _ = try #require(try queue.claim(twoName))
            try queue.requeue(one)
            #expect(queue.pending().map(\.fileName) == ["one_i0.tar.xz"])
            // A runner restarted after a crash finds "two" in running/ and returns it.
            let restarted = try JobQueue(queueDirectory: queueDir, stateDirectory: "\(dir)/state")
            #expect(restarted.recoverInterrupted() == ["two_i0.tar.xz"])
            #expect(Set(restarted.pending().map(\.fileName)) == ["one_i0.tar.xz", "two_i0.tar.xz"])
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/state/running").isEmpty)
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
