import ConstruirSystem
import Foundation
import JobModel
import Packager
import Testing
import TestSupport

/// A repository's own `construir.yml`: with `stages:` it needs no `construir` script, and it
/// becomes the job's `job/construir.yml`, merged with what the packager adds.
@Suite struct StagesTests {
    static let digest = String(repeating: "0123456789abcdef", count: 4)
    static let stagesManifest = """
        # The repository's own manifest.
        timeout: 5m
        environment:
          MODE: release
        stages:
          - name: build
            script:
              - make
              - echo "built $MODE"
          - name: lint
            script: make lint
            allow_failure: true
          - name: test
            script: [make check]
            artifacts: [build/*.log]

        """

    /// A repository with `files` (and no `construir` script unless among them), one commit.
    private func makeScriptlessRepository(at path: String, files: [String: String]) async throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try await git(["init", "-q"], in: path)
        try await git(["remote", "add", "origin", "https://example.com/staged.git"], in: path)
        for (name, text) in files { try writeFile("\(path)/\(name)", text) }
        try await git(["add", "-A"], in: path)
        try await git(["commit", "-q", "-m", "first"], in: path)
    }

    private func request(_ repo: String, into queue: String, environment: [String] = [], imageDigest: String? = nil,
                         images: [Int] = [0]) throws -> PackageRequest {
        try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
        return PackageRequest(repository: repo, images: images, imagesDirectory: "\(queue)/none", destination: .directory(queue),
                              environment: try environment.map(EnvironmentVariable.init(parsing:)), imageDigest: imageDigest)
    }

    /// The job's `job/construir.yml`, as text and as the runner parses it.
    private func jobManifest(_ job: String, scratch: String) async throws -> (text: String, manifest: JobManifest) {
        try await extract(job, to: scratch)
        let bytes = try bytes(at: "\(scratch)/job/construir.yml")
        return (String(decoding: bytes, as: UTF8.self), try JobManifest.parse(bytes))
    }

    @Test func aStagesJobsParametersGoIntoItsManifestsEnvironment() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/staged"
            let manifest = "params:\n  - {name: LEVEL, choices: ['1', '2'], default: '1'}\nstages:\n  - {name: build, script: [echo $LEVEL]}\n"
            try await makeScriptlessRepository(at: repo, files: ["construir.yml": manifest])
            var made = try request(repo, into: "\(dir)/queue")
            made.parameters = [try EnvironmentVariable(name: "LEVEL", value: "2")]
            let job = try JobPackager().package(made).files[0]
            let written = try await jobManifest(job, scratch: "\(dir)/scratch").manifest
            #expect(written.params.map(\.name) == ["LEVEL"])
            #expect(written.environment.contains { $0 == ("LEVEL", "2") }, "\(written.environment)")
        }
    }

    @Test func aRepositoryWithOnlyStagesPackagesWithTheEnvironmentAndPinInItsManifest() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/staged"
            try await makeScriptlessRepository(at: repo, files: ["construir.yml": Self.stagesManifest, "Makefile": "all:\n\ttrue\n"])
            let commit = try await git(["rev-parse", "HEAD"], in: repo)
            let tricky = "it's \"quoted\"\n$(id) `x` true: 123 # not a comment"
            let made = try request(repo, into: "\(dir)/q", environment: ["EXTRA=\(tricky)", "NUMBER=0755"], imageDigest: Self.digest)
            let result = try JobPackager().package(made)
            #expect(result.stages)
            let job = try #require(result.files.first)

            // No wrapper: the runner runs the stages. The repository's file stays in repo/ too.
            let names = try await names(job)
            #expect(!names.contains("job/construir"), "\(names)")
            #expect(names.contains("job/construir.yml") && names.contains("job/source.json") && names.contains("repo/construir.yml"))

            let (text, manifest) = try await jobManifest(job, scratch: "\(dir)/x")
            var expected = try JobManifest.parse(Array(Self.stagesManifest.utf8))
            expected.imageDigest = Self.digest
            expected.environment += [
                ("REPO_URL", "https://example.com/staged.git"), ("COMMIT_HASH", String(commit.prefix(12))), ("BRANCH", "main"),
                ("TAG", ""), ("SOURCE_DATE_EPOCH", "\(commitTime)"), ("EXTRA", tricky), ("NUMBER", "0755"),
            ]
            #expect(manifest == expected, "\(text)")
            #expect(manifest.stages.map(\.name) == ["build", "lint", "test"])
            #expect(manifest.stages[0].script == ["make", "echo \"built $MODE\""])
            // YAML written by Yams, not pasted text: the repository's comment is gone.
            #expect(!text.contains("The repository's own manifest"), "\(text)")
            #expect(try String(contentsOfFile: "\(dir)/x/job/source.json", encoding: .utf8)
                    == "{\"commit\":\"\(commit)\",\"uncommitted_changes\":false}\n")

            // Reproducible: the same request gives the same bytes.
            let again = try JobPackager().package(try request(repo, into: "\(dir)/q2", environment: ["EXTRA=\(tricky)", "NUMBER=0755"],
                                                              imageDigest: Self.digest))
            #expect(try bytes(at: again.files[0]) == bytes(at: job))
        }
    }

    @Test func aScriptWithAManifestKeepsTheWrapperAndTheManifestGetsNoPackagerEnvironment() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo, files: ["construir.yml": "timeout: 20m\nmemory: 2G\nenvironment:\n  MODE: debug\n"])
            let result = try JobPackager().package(try request(repo, into: "\(dir)/q"))
            #expect(!result.stages)
            let job = try #require(result.files.first)
            #expect(try await names(job).contains("job/construir"))
            #expect(try await wrapper(job).contains("export SOURCE_DATE_EPOCH='\(commitTime)'"))
            let (text, manifest) = try await jobManifest(job, scratch: "\(dir)/x")
            #expect(manifest.timeout == .seconds(1200) && manifest.memoryBytes == 2 << 30, "\(text)")
            #expect(manifest.environment.map(\.0) == ["MODE"] && manifest.environment.map(\.1) == ["debug"], "\(text)")
            #expect(manifest.imageDigest == nil && manifest.stages.isEmpty)
        }
    }

    @Test func fieldsSetTwiceAreErrorsNamingThem() async throws {
        try await withTemporaryDirectory { dir in
            let pinned = "\(dir)/pinned"
            try await makeScriptlessRepository(at: pinned, files: ["construir.yml": "image_digest: \(Self.digest)\n" + Self.stagesManifest])
            let digest = expectFailure(.invalidArgument) {
                _ = try JobPackager().package(try request(pinned, into: "\(dir)/q1", imageDigest: Self.digest))
            }
            #expect(digest.contains("image_digest is set both"), "\(digest)")
            // The repository's pin alone is kept, but pins one image.
            let two = expectFailure(.invalidArgument) { _ = try JobPackager().package(try request(pinned, into: "\(dir)/q1", images: [0, 1])) }
            #expect(two.contains("exactly one image"), "\(two)")
            let alone = try JobPackager().package(try request(pinned, into: "\(dir)/q2"))
            #expect(try await jobManifest(alone.files[0], scratch: "\(dir)/x2").manifest.imageDigest == Self.digest)

            // The repository's MODE and -e MODE; a built-in variable in the repository's manifest.
            let staged = "\(dir)/staged"
            try await makeScriptlessRepository(at: staged, files: ["construir.yml": Self.stagesManifest])
            let mode = expectFailure(.invalidArgument) {
                _ = try JobPackager().package(try request(staged, into: "\(dir)/q3", environment: ["MODE=debug"]))
            }
            #expect(mode.contains("environment variable MODE is set both"), "\(mode)")
            let epoch = "\(dir)/epoch"
            try await makeRepository(at: epoch, files: ["construir.yml": "environment:\n  SOURCE_DATE_EPOCH: '1'\n"])
            let builtIn = expectFailure(.invalidArgument) { _ = try JobPackager().package(try request(epoch, into: "\(dir)/q4")) }
            #expect(builtIn.contains("environment variable SOURCE_DATE_EPOCH is set both"), "\(builtIn)")
            // A field twice in the repository's own file.
            let twice = "\(dir)/twice"
            try await makeRepository(at: twice, files: ["construir.yml": "timeout: 5m\ntimeout: 6m\n"])
            let repeated = expectFailure(.invalidArgument) { _ = try JobPackager().package(try request(twice, into: "\(dir)/q5")) }
            #expect(repeated.contains("construir.yml") && repeated.contains("duplicated key(s): 'timeout'"), "\(repeated)")
            // Each part within its limits, the merge over one: refused before a runner sees it.
            let big = expectFailure(.invalidArgument) {
                _ = try JobPackager().package(try request(staged, into: "\(dir)/q6", environment: ["BIG=\(String(repeating: "x", count: 62_000))"]))
            }
            #expect(big.contains("a runner would refuse the job") && big.contains("environment is larger"), "\(big.prefix(300))")
            for queue in ["q1", "q3", "q4", "q5", "q6"] {
                #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/\(queue)").filter { $0 != "none" }.isEmpty, "\(queue)")
            }
        }
    }

    @Test func aRepositoryWithNothingToRunIsStillRefused() async throws {
        try await withTemporaryDirectory { dir in
            // A manifest without stages is no replacement for the script.
            let manifestOnly = "\(dir)/manifest-only"
            try await makeScriptlessRepository(at: manifestOnly, files: ["construir.yml": "timeout: 5m\n", "README": "x\n"])
            let noStages = expectFailure(.invalidArgument) { _ = try JobPackager().package(try request(manifestOnly, into: "\(dir)/q")) }
            #expect(noStages.contains("has no 'construir' script") && noStages.contains("stages:"), "\(noStages)")
            let nothing = "\(dir)/nothing"
            try await makeScriptlessRepository(at: nothing, files: ["README": "x\n"])
            let none = expectFailure(.invalidArgument) { _ = try JobPackager().package(try request(nothing, into: "\(dir)/q")) }
            #expect(none.contains("has no 'construir' script"), "\(none)")
            // A manifest the runner would refuse is refused here, naming the problem.
            let typo = "\(dir)/typo"
            try await makeScriptlessRepository(at: typo, files: ["construir.yml": "stage:\n  - name: build\n    script: make\n"])
            let unknown = expectFailure(.invalidArgument) { _ = try JobPackager().package(try request(typo, into: "\(dir)/q")) }
            #expect(unknown.contains("construir.yml") && unknown.contains("unknown field 'stage'"), "\(unknown)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/q").filter { $0 != "none" }.isEmpty)
        }
    }
}
