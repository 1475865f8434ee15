import ConstruirSystem
import Foundation
import Testing
import TestSupport
@testable import Runner
import VMHost

@Suite struct JobManifestTests {
    private func parse(_ text: String) throws(ConstruirError) -> JobManifest { try JobManifest.parse(Array(text.utf8)) }

    @Test func everyFieldParses() throws {
        let manifest = try parse("""
            timeout: 20m
            memory: 2G
            cpus: 2
            output_size: 500M
            environment:
              MODE: release
              QUOTE: "it's $HOME `x`"
            """)
        #expect(manifest.timeout == .seconds(1200))
        #expect(manifest.memoryBytes == 2 << 30)
        #expect(manifest.cpus == 2)
        #expect(manifest.outputSize == 500 << 20)
        #expect(manifest.environment.map(\.0) == ["MODE", "QUOTE"])
        #expect(manifest.environmentScript == "export MODE='release'\nexport QUOTE='it'\\''s $HOME `x`'\nunset BASH_ENV\n")
        #expect(try parse("") == JobManifest())
        #expect(try parse("timeout: 90").timeout == .seconds(90))
    }

    @Test(arguments: [
        ("timeuot: 5m", "unknown field 'timeuot'"),
        ("- a\n- b", "must be a mapping"),
        ("timeout: soon", "timeout"),
        ("cpus: 0", "cpus"),
        ("cpus: [1, 2]", "single value"),
        ("environment:\n  1BAD: x", "not a variable name"),
        ("environment: [a]", "mapping of NAME"),
        ("memory: {a: 1}", "single value"),
        ("key: [unclosed", "not valid YAML"),
    ])
    func mistakesAreNamed(text: String, reason: String) {
        do throws(ConstruirError) {
            _ = try parse(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.description.contains(reason), "\(error)")
            #expect(error.description.contains("job/construir.yml"))
        }
    }

    @Test func anImageDigestPinsTheJob() throws {
        let digest = "3f5c" + String(repeating: "0123456789abcdef", count: 3) + "0123456789ab"
        #expect(digest.count == 64)
        #expect(try parse("image_digest: \(digest)").imageDigest == digest)
        #expect(try parse("image_digest: \"\(digest)\"\ntimeout: 5m").imageDigest == digest)
        // Only the digest's text form is accepted, with a message that says what is expected.
        for bad in [String(digest.dropLast()), digest + "0", digest.uppercased(), "sha256:\(digest.dropFirst(7))", "1"] {
            do throws(ConstruirError) {
                _ = try parse("image_digest: \(bad)")
                Issue.record("accepted: \(bad)")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.description.contains("job/construir.yml image_digest must be 64 lowercase hex digits"), "\(error)")
                #expect(error.description.contains(bad), "\(error)")
            }
        }
        do throws(ConstruirError) {
            _ = try parse("image_digest: [a]")
            Issue.record("accepted a list")
        } catch {
            #expect(error.description.contains("image_digest must be a single value"))
        }
        // A job without one runs on whatever image N is.
        #expect(try parse("timeout: 5m").imageDigest == nil)
    }

    @Test func aPinnedDigestThatDiffersNamesBoth() {
        let expected = String(repeating: "a", count: 64), actual = String(repeating: "b", count: 64)
        #expect(JobExecutor.imageMismatch(pinned: expected, actual: expected, index: 1) == nil)
        let refusal = JobExecutor.imageMismatch(pinned: expected, actual: actual, index: 1)
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
