import ConstruirSystem
import Foundation
import Testing
import TestSupport
@testable import JobModel
@testable import Runner
import VMHost

@Suite struct JobManifestTests {
    @Test func aPinnedDigestThatDiffersNamesBoth() {
        let expected = String(repeating: "a", count: 64), actual = String(repeating: "b", count: 64)
        #expect(JobPlan.imageMismatch(pinned: expected, actual: expected, index: 1) == nil)
        let refusal = JobPlan.imageMismatch(pinned: expected, actual: actual, index: 1)
        #expect(refusal?.contains("the job expects \(expected)") == true, "\(refusal ?? "")")
        #expect(refusal?.contains("image 1 is \(actual)") == true, "\(refusal ?? "")")
    }

    @Test func requestsAboveThePolicyAreRefusedAndOthersApplied() throws {
        var options = RunnerOptions(timeout: .seconds(60), memoryMiB: 512, cpus: 1, acceleration: .tcg)
        options.policy = RunnerPolicy(maxTimeout: .seconds(600), maxMemoryMiB: 2048, maxCpus: 2, maxOutputSize: 64 << 20)
        let defaults = try EffectiveLimits.resolve(options: options, manifest: nil, jobSize: 3 << 20)
        #expect(defaults == EffectiveLimits(timeout: .seconds(60), memoryMiB: 512, cpus: 1, outputSize: 3 << 20))
        let asked = JobManifest(timeout: .seconds(300), memoryBytes: 1 << 30, cpus: 2, outputSize: 10 << 20)
        #expect(try EffectiveLimits.resolve(options: options, manifest: asked, jobSize: 1000)
                == EffectiveLimits(timeout: .seconds(300), memoryMiB: 1024, cpus: 2, outputSize: 10 << 20))
        for (manifest, option) in [
            (JobManifest(timeout: .seconds(601)), "--max-timeout"),
            (JobManifest(memoryBytes: 4 << 30), "--max-memory"),
            (JobManifest(cpus: 3), "--max-cpus"),
            (JobManifest(outputSize: 65 << 20), "--max-output-size"),
        ] {
            #expect(throws: ConstruirError.self) { try EffectiveLimits.resolve(options: options, manifest: manifest, jobSize: 1000) }
            do throws(ConstruirError) { _ = try EffectiveLimits.resolve(options: options, manifest: manifest, jobSize: 1000) } catch {
                #expect(error.description.contains(option), "\(error)")
            }
        }
        // A job padded beyond the policy's output cap gets the cap, not its padding.
        #expect(try EffectiveLimits.resolve(options: options, manifest: nil, jobSize: 1 << 30).outputSize == 64 << 20)
    }
}

@Suite struct DoneCurationTests {
    private func makeJob(_ done: String, _ name: String, bytes: Int, finished: Int, pinned: Bool = false) throws {
        let dir = "\(done)/\(name)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data(repeating: 0x61, count: bytes).write(to: URL(fileURLWithPath: "\(dir)/output.tar.xz"))
        try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(dir)/result.json"))
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: Double(finished))],
                                              ofItemAtPath: "\(dir)/result.json")
        if pinned { _ = FileManager.default.createFile(atPath: "\(dir)/\(DoneStore.pinFile)", contents: nil) }
    }

    @Test func oldestUnpinnedJobsGoFirstAndTheNewestStays() async throws {
        try await withTemporaryDirectory { dir in
            let done = try DoneStore(directory: "\(dir)/done")
            try makeJob(done.directory, "a", bytes: 400_000, finished: 1000)
            try makeJob(done.directory, "b", bytes: 400_000, finished: 2000, pinned: true)
            try makeJob(done.directory, "c", bytes: 400_000, finished: 3000)
            try makeJob(done.directory, "d", bytes: 400_000, finished: 4000)
            #expect(done.curate(maxBytes: 1_300_000, keeping: "d") == ["a"])
            #expect(done.curate(maxBytes: 500_000, keeping: "d") == ["c"])
            // b is pinned and d was just published: both stay even over the limit.
            #expect(done.curate(maxBytes: 1, keeping: "d").isEmpty)
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: done.directory)) == ["b", "d"])
        }
    }

    @Test func jobsOlderThanTheCutoffGoUnlessPinned() async throws {
        try await withTemporaryDirectory { dir in
            let done = try DoneStore(directory: "\(dir)/done")
            try makeJob(done.directory, "old", bytes: 10, finished: 1000)
            try makeJob(done.directory, "kept", bytes: 10, finished: 1500)
            try makeJob(done.directory, "new", bytes: 10, finished: 5000)
            try done.pin("kept")
            #expect(done.curate(olderThan: Date(timeIntervalSince1970: 2000)) == ["old"])
            try done.pin("kept", pinned: false)
            #expect(done.curate(olderThan: Date(timeIntervalSince1970: 2000)) == ["kept"])
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: done.directory)) == ["new"])
            #expect(throws: ConstruirError.self) { try done.pin("../new") }
            #expect(throws: ConstruirError.self) { try done.pin("absent") }
        }
    }

    @Test func aCrossFilesystemPublishInterruptedAfterTheRenameIsNotRepeated() async throws {
        try await withTemporaryDirectory { dir in
            let done = try DoneStore(directory: "\(dir)/done")
            let source = "\(dir)/running/job1"
            try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
            // The staging copy was renamed into done/ before the runner died: the marker's
            // staging path no longer exists, so the job is already published.
            try "\(dir)/done/.incoming-job1".write(toFile: "\(source)/publishing", atomically: true, encoding: .utf8)
            #expect(done.finishInterruptedPublish(of: source))
            #expect(!FileManager.default.fileExists(atPath: source))
            // Died during the copy: the staging copy is removed and publishing starts over.
            try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(dir)/done/.incoming-job1", withIntermediateDirectories: true)
            try "\(dir)/done/.incoming-job1".write(toFile: "\(source)/publishing", atomically: true, encoding: .utf8)
            #expect(!done.finishInterruptedPublish(of: source))
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/done/.incoming-job1"))
            #expect(FileManager.default.fileExists(atPath: source))
        }
    }
}
