import ConstruirSystem
import Foundation
import JobModel
import Packager
import Testing
import TestSupport

/// `construir try`'s packaging: the working tree on top of HEAD, the repository untouched.
@Suite struct WorkingTreeTests {
    private func request(_ repo: String, into queue: String) throws -> PackageRequest {
        try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
        return PackageRequest(repository: repo, imagesDirectory: "\(queue)/none", destination: .directory(queue), workingTree: true)
    }

    /// What must not change: status, HEAD, the index file's bytes, every ref, the reflog.
    private func state(of repo: String) async throws -> [String] {
        [
            try await git(["--no-optional-locks", "status", "--porcelain", "--untracked-files=all", "--ignored"], in: repo),
            try await git(["rev-parse", "HEAD"], in: repo),
            Hex.string(try bytes(at: "\(repo)/.git/index")),
            try await git(["for-each-ref"], in: repo),
            try await git(["reflog", "--all"], in: repo),
            try await git(["stash", "list"], in: repo),
        ]
    }

    @Test func theWorkingTreeIsPackagedAndTheRepositoryLeftAsItWas() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo, files: ["a.txt": "committed\n", "gone.txt": "deleted later\n",
                                                       "staged.txt": "committed\n", ".gitignore": "*.o\n"])
            let head = try await git(["rev-parse", "HEAD"], in: repo)
            try writeFile("\(repo)/a.txt", "changed, not committed\n")
            try FileManager.default.removeItem(atPath: "\(repo)/gone.txt")
            try writeFile("\(repo)/staged.txt", "staged\n")
            try await git(["add", "staged.txt"], in: repo)
            try writeFile("\(repo)/staged.txt", "staged, then changed again\n")
            try writeFile("\(repo)/new/untracked.txt", "untracked\n")
            try writeFile("\(repo)/build.o", "ignored\n")
            let before = try await state(of: repo)

            let result = try JobPackager().package(try request(repo, into: "\(dir)/q"))
            #expect(try await state(of: repo) == before)
            #expect(result.source == PackagedSource(commit: head, uncommittedChanges: true))
            #expect(result.commit != head)
            #expect(try await git(["rev-parse", "\(result.commit)^"], in: repo) == head)

            let job = try #require(result.files.first)
            let names = try await names(job)
            #expect(!names.contains("repo/gone.txt") && !names.contains("repo/build.o"), "\(names)")
            try await extract(job, to: "\(dir)/x")
            #expect(try String(contentsOfFile: "\(dir)/x/repo/a.txt", encoding: .utf8) == "changed, not committed\n")
            #expect(try String(contentsOfFile: "\(dir)/x/repo/staged.txt", encoding: .utf8) == "staged, then changed again\n")
            #expect(try String(contentsOfFile: "\(dir)/x/repo/new/untracked.txt", encoding: .utf8) == "untracked\n")
            #expect(try String(contentsOfFile: "\(dir)/x/job/source.json", encoding: .utf8)
                    == "{\"commit\":\"\(head)\",\"uncommitted_changes\":true}\n")
            // The job runs with HEAD's branch and time; COMMIT_HASH is the snapshot's.
            let wrapper = try await wrapper(job)
            #expect(wrapper.contains("export BRANCH='main'") && wrapper.contains("export SOURCE_DATE_EPOCH='\(commitTime)'"))
            #expect(wrapper.contains("export COMMIT_HASH='\(result.shortCommit)'"))

            // The same working tree again: the same commit and the same bytes.
            let again = try JobPackager().package(try request(repo, into: "\(dir)/q2"))
            #expect(again.commit == result.commit)
            #expect(try bytes(at: again.files[0]) == bytes(at: job))
            #expect(try await state(of: repo) == before)
        }
    }

    @Test func aCleanWorkingTreeIsHEADItself() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo, files: ["a.txt": "committed\n", ".gitignore": "*.o\n"])
            try writeFile("\(repo)/build.o", "ignored\n")
            let head = try await git(["rev-parse", "HEAD"], in: repo)
            let tried = try JobPackager().package(try request(repo, into: "\(dir)/q"))
            #expect(tried.commit == head)
            #expect(tried.source == PackagedSource(commit: head, uncommittedChanges: false))
            // Byte for byte what `construir package` makes of HEAD.
            let packaged = try package(repo, into: "\(dir)/q2")
            #expect(try bytes(at: tried.files[0]) == bytes(at: packaged.files[0]))
        }
    }

    @Test func aRepositoryWithoutACommitOrWorkTreeIsAClearError() async throws {
        try await withTemporaryDirectory { dir in
            let empty = "\(dir)/empty"
            try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
            try await git(["init", "-q"], in: empty)
            try writeFile("\(empty)/construir", "echo hi\n")
            let none = expectFailure(.invalidArgument) { _ = try JobPackager().package(try request(empty, into: "\(dir)/q")) }
            #expect(none.contains("has no commit yet"), "\(none)")
            #expect(try await git(["status", "--porcelain"], in: empty) == "?? construir")

            try await makeRepository(at: "\(dir)/project")
            try await git(["clone", "-q", "--bare", "\(dir)/project", "\(dir)/bare.git"], in: dir)
            let bare = expectFailure(.invalidArgument) { _ = try JobPackager().package(try request("\(dir)/bare.git", into: "\(dir)/q")) }
            #expect(bare.contains("bare repository"), "\(bare)")

            try FileManager.default.createDirectory(atPath: "\(dir)/plain", withIntermediateDirectories: true)
            let plain = expectFailure(.invalidArgument) { _ = try JobPackager().package(try request("\(dir)/plain", into: "\(dir)/q")) }
            #expect(plain.contains("is not a git repository"), "\(plain)")

            var other = try request("\(dir)/project", into: "\(dir)/q")
            other.revision = "HEAD~1"
            let revision = expectFailure(.invalidArgument) { _ = try JobPackager().package(other) }
            #expect(revision.contains("on top of HEAD"), "\(revision)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/q").filter { $0 != "none" }.isEmpty)
        }
    }
}
