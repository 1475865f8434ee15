import ConstruirSystem
import Foundation
import Packager
import Testing
import TestSupport

@Suite struct ErrorTests {
    private func request(_ repository: String, queue: String, revision: String = "HEAD", images: [Int] = [0],
                         imagesDirectory: String? = nil, outputSize: Int64? = nil,
                         destination: PackageRequest.Destination? = nil) -> PackageRequest {
        PackageRequest(repository: repository, revision: revision, images: images,
                       imagesDirectory: imagesDirectory ?? "\(queue)/none", outputSize: outputSize,
                       destination: destination ?? .directory(queue))
    }

    @Test func notAGitRepository() async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/plain", withIntermediateDirectories: true)
            let message = expectFailure(.invalidArgument) {
                try JobPackager().package(request("\(dir)/plain", queue: dir))
            }
            #expect(message.contains("\(dir)/plain is not a git repository"))
            let missing = expectFailure(.notFound) { try JobPackager().package(request("\(dir)/nowhere", queue: dir)) }
            #expect(missing.contains("nowhere is not a directory"))
            #expect(try dotfiles(in: dir).isEmpty)
        }
    }

    @Test func unknownRevision() async throws {
        try await withTemporaryDirectory { dir in
            try await makeRepository(at: "\(dir)/project")
            for revision in ["no-such-branch", "HEAD~5", "-x", "0123456789abcdef0123456789abcdef01234567"] {
                let message = expectFailure(revision == "-x" ? .invalidArgument : .notFound) {
                    try JobPackager().package(request("\(dir)/project", queue: dir, revision: revision))
                }
                #expect(message.contains("'\(revision)'"))
            }
            // A tree is not a commit.
            let tree = try await git(["rev-parse", "HEAD^{tree}"], in: "\(dir)/project")
            expectFailure(.notFound) { try JobPackager().package(request("\(dir)/project", queue: dir, revision: tree)) }
        }
    }

    @Test func repositoryWithoutAConstruirScript() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            try await git(["mv", "construir", "build.sh"], in: repo)
            try FileManager.default.createDirectory(atPath: "\(repo)/sub", withIntermediateDirectories: true)
            try writeFile("\(repo)/sub/construir", "echo nested")
            try await git(["add", "-A"], in: repo)
            try await git(["commit", "-q", "-m", "no script"], in: repo)
            let message = expectFailure(.invalidArgument) { try JobPackager().package(request(repo, queue: dir)) }
            #expect(message.contains("has no 'construir' script at its root"))
            #expect(message.contains("looked for the file 'construir' in the top-level tree"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["project"])
        }
    }

    @Test func unknownImageIndex() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            for index in [0, 2] {
                try writeFile("\(dir)/images/\(index)/image.json", "{}")
            }
            try FileManager.default.createDirectory(atPath: "\(dir)/images/1", withIntermediateDirectories: true)  // no image.json
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            let message = expectFailure(.invalidArgument) {
                try JobPackager().package(request(repo, queue: "\(dir)/queue", images: [0, 1], imagesDirectory: "\(dir)/images"))
            }
            #expect(message.contains("unknown build image 1"))
            #expect(message.contains("available images: 0, 2"))
            expectFailure(.invalidArgument) {
                try JobPackager().package(request(repo, queue: "\(dir)/queue", images: [-1], imagesDirectory: "\(dir)/images"))
            }
            expectFailure(.invalidArgument) {
                try JobPackager().package(request(repo, queue: "\(dir)/queue", images: [2, 2], imagesDirectory: "\(dir)/images"))
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/queue").isEmpty)

            // Known indices work; without an images directory any index is accepted.
            let known = try JobPackager().package(request(repo, queue: "\(dir)/queue", images: [2, 0], imagesDirectory: "\(dir)/images"))
            #expect(known.files.map { ($0 as NSString).lastPathComponent.hasSuffix("_i2.tar.xz") } == [true, false])
            let unchecked = try JobPackager().package(request(repo, queue: "\(dir)/queue", images: [7], imagesDirectory: "\(dir)/missing"))
            #expect(unchecked.files[0].hasSuffix("_i7.tar.xz"))
            // Built images are not committed: an index with only a recipe is known too.
            try writeFile("\(dir)/images/recipes/5.yml", "index: 5\n")
            let recipeOnly = try JobPackager().package(request(repo, queue: "\(dir)/queue", images: [5], imagesDirectory: "\(dir)/images"))
            #expect(recipeOnly.files[0].hasSuffix("_i5.tar.xz"))
        }
    }

    @Test func outputSizeSmallerThanTheArchive() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            let message = expectFailure(.invalidArgument) {
                try JobPackager().package(request(repo, queue: "\(dir)/queue", outputSize: 100))
            }
            #expect(message.contains("more than the requested output size of 100 bytes"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/queue").isEmpty)
        }
    }

    @Test func unwritableDestinations() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            let missing = expectFailure(.notFound) { try JobPackager().package(request(repo, queue: "\(dir)/no-queue")) }
            #expect(missing.contains("cannot write to \(dir)/no-queue: no such directory"))
            try writeFile("\(dir)/file", "x")
            let file = expectFailure(.invalidArgument) { try JobPackager().package(request(repo, queue: "\(dir)/file")) }
            #expect(file.contains("not a directory"))
            let intoDirectory = expectFailure(.invalidArgument) {
                try JobPackager().package(request(repo, queue: dir, destination: .file(repo)))
            }
            #expect(intoDirectory.contains("it is a directory"))
            let twoImages = expectFailure(.invalidArgument) {
                try JobPackager().package(request(repo, queue: dir, images: [0, 1], destination: .file("\(dir)/job.tar.xz")))
            }
            #expect(twoImages.contains("exactly one image"))
            if getuid() != 0 {  // root may write anywhere
                try FileManager.default.createDirectory(atPath: "\(dir)/ro", withIntermediateDirectories: true)
                chmod("\(dir)/ro", 0o555)
                defer { chmod("\(dir)/ro", 0o755) }
                expectFailure(.system) { try JobPackager().package(request(repo, queue: "\(dir)/ro")) }
            }
        }
    }

    @Test func outputFileIsWrittenAtomically() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            try FileManager.default.createDirectory(atPath: "\(dir)/out", withIntermediateDirectories: true)
            try writeFile("\(dir)/out/job.tar.xz", "old contents")
            let result = try JobPackager().package(request(repo, queue: dir, destination: .file("\(dir)/out/job.tar.xz")))
            #expect(result.files == ["\(dir)/out/job.tar.xz"])
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/out") == ["job.tar.xz"])
            #expect(try await names("\(dir)/out/job.tar.xz").contains("job/construir"))
        }
    }
}
