import ConstruirSystem
import Foundation
import Packager
import Testing
import TestSupport
import XZ

@Suite struct ReproducibilityTests {
    /// About 3 MiB of text that does not compress to nothing: more than two xz blocks' worth
    /// of the 1 MiB minimum, so the thread count could matter if the block size depended on it.
    private func largeFiles() -> [String: String] {
        var state: UInt64 = 42
        let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]
        var files: [String: String] = [:]
        for file in 0..<24 {
            var text = ""
            while text.utf8.count < 130_000 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                text += words[Int(state >> 60) % words.count] + String(state >> 40, radix: 36)
                text += (state >> 33) % 9 == 0 ? "\n" : " "
            }
            files["data/part\(file % 4)/file\(file).txt"] = text
        }
        return files
    }

    /// (number of streams, number of blocks) of an xz file, from `xz --robot -lv`.
    private func blocks(of path: String) async throws -> Int {
        let (status, output) = try await runTool(["xz", "--robot", "-lv", path])
        #expect(status == 0)
        let totals = try #require(output.split(separator: "\n").first { $0.hasPrefix("totals") })
        return Int(totals.split(separator: "\t")[2]) ?? 0
    }

    @Test func sameCommitSameBytesWhateverTheThreadsTimeAndClone() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/one/project"
            try await makeRepository(at: repo, files: largeFiles().merging(["run.sh": "#!/bin/sh\n"]) { $1 }, executables: ["run.sh"])
            try await git(["remote", "add", "origin", "https://example.com/project.git"], in: repo)

            let first = try package(repo, into: "\(dir)/q1", threads: 2)
            let reference = try bytes(at: first.files[0])
            #expect(first.tarSize > 3_000_000)
            #expect(try await blocks(of: first.files[0]) >= 2)

            // Again, later, with other thread counts: the same bytes.
            try await Task.sleep(for: .milliseconds(1100))
            for threads in [1, 0, 3] {
                let again = try package(repo, into: "\(dir)/q-threads\(threads)", threads: threads)
                #expect(again.files.map { ($0 as NSString).lastPathComponent } == first.files.map { ($0 as NSString).lastPathComponent })
                #expect(try bytes(at: again.files[0]) == reference, "threads \(threads)")
            }

            // A second clone (same directory name, same origin) gives the same bytes too.
            try FileManager.default.createDirectory(atPath: "\(dir)/two", withIntermediateDirectories: true)
            try await git(["clone", "-q", repo, "\(dir)/two/project"], in: dir)
            try await git(["remote", "set-url", "origin", "https://example.com/project.git"], in: "\(dir)/two/project")
            let clone = try package("\(dir)/two/project", into: "\(dir)/q-clone")
            #expect(try bytes(at: clone.files[0]) == reference)
        }
    }

    @Test func theRevisionChosenIsWhatIsPackaged() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo, files: ["v.txt": "one"])
            let firstCommit = try await git(["rev-parse", "HEAD"], in: repo)
            try writeFile("\(repo)/v.txt", "two")
            try await git(["commit", "-q", "-am", "two"], in: repo)
            // Uncommitted changes are not packaged either.
            try writeFile("\(repo)/v.txt", "dirty")

            let old = try package(repo, into: "\(dir)/old", revision: firstCommit)
            let new = try package(repo, into: "\(dir)/new")
            #expect(old.commit == firstCommit)
            #expect(new.commit != firstCommit)
            try await extract(old.files[0], to: "\(dir)/x-old")
            try await extract(new.files[0], to: "\(dir)/x-new")
            #expect(try String(contentsOfFile: "\(dir)/x-old/repo/v.txt", encoding: .utf8) == "one")
            #expect(try String(contentsOfFile: "\(dir)/x-new/repo/v.txt", encoding: .utf8) == "two")
        }
    }
}

@Suite struct PaddingTests {
    /// Decodes the xz stream at the start of `path` (as the guest does) and returns its length
    /// and the bytes after it.
    private func stream(of path: String) throws -> (length: Int64, tail: ArraySlice<UInt8>) {
        let reader = try XZStreamReader(path: path, maxDecompressedBytes: 1 << 30)
        let length = try reader.finish()
        let all = try bytes(at: path)
        return (length, all[Int(length)...])
    }

    @Test func defaultIsAtLeastOneMebibyteOfZeroPaddedXZ() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            let result = try package(repo, into: "\(dir)/queue")
            let job = result.files[0]
            #expect(try FileSystem.size(of: job) == 1 << 20)
            #expect(result.fileSize == 1 << 20)
            let (length, tail) = try stream(of: job)
            #expect(length == result.archiveSize)
            #expect(tail.count > 0 && tail.allSatisfy { $0 == 0 })
            // GNU xz without --single-stream accepts the padding (a multiple of 4) too.
            #expect(try await runTool(["xz", "-t", job]).status == 0)
            #expect(try await runTool(["bash", "-c", "xz -dc < \"$1\" | tar -tf - >/dev/null", "t", job]).status == 0)
        }
    }

    @Test(arguments: [(Int64(2 << 20), Int64(2 << 20)), (1_000_001, 1_000_448), (700_000, 700_416)])
    func requestedSizesAreRoundedUpTo512(requested: Int64, expected: Int64) async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            let result = try package(repo, into: "\(dir)/queue", outputSize: requested)
            #expect(try FileSystem.size(of: result.files[0]) == expected)
            #expect(expected % 512 == 0)
            let (length, tail) = try stream(of: result.files[0])
            #expect(Int64(tail.count) == expected - length)
            #expect(tail.allSatisfy { $0 == 0 })
        }
    }

    @Test func largeArchivesAreOnlyRoundedUp() throws {
        #expect(try JobPackager.paddedSize(archiveSize: 5_000_000, requested: nil) == 5_000_192)
        #expect(try JobPackager.paddedSize(archiveSize: 4096, requested: nil) == 1 << 20)
        #expect(try JobPackager.paddedSize(archiveSize: 4096, requested: 4096) == 4096)
        #expect(try JobPackager.paddedSize(archiveSize: 4096, requested: 4097) == 4608)
        expectFailure(.invalidArgument) { _ = try JobPackager.paddedSize(archiveSize: 4096, requested: 4000) }
    }
}
