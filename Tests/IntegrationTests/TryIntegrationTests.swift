import Foundation
import JobModel
import Testing
import TestSupport

extension VMSuites {
/// `construir try`: a repository's working tree, uncommitted change included, runs in a real VM
/// from build image 0 through the construir executable, and the repository is left as it was.
@Suite(.serialized) struct TryIntegrationTests {
    static let repository = RunnerIntegrationTests.repository
    static let images = "\(repository)/images"

    private func git(_ arguments: [String], in directory: String) async throws -> String {
        try await testGit(arguments, in: directory)
    }

    /// What `try` must leave alone: status (read without refreshing the index), HEAD, the
    /// index file's bytes, the refs.
    private func state(of repo: String) async throws -> [String] {
        [
            try await git(["--no-optional-locks", "status", "--porcelain", "--untracked-files=all"], in: repo),
            try await git(["rev-parse", "HEAD"], in: repo),
            try Data(contentsOf: URL(fileURLWithPath: "\(repo)/.git/index")).base64EncodedString(),
            try await git(["for-each-ref"], in: repo),
        ]
    }

    /// `construir try REPO` with a short private TMPDIR (libvirt's socket paths); standard output
    /// and error together.
    private func tryRepository(_ repo: String, done: String) async throws -> (status: Int32, output: String) {
        var template = Array("/tmp/ctry-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ConstruirTestError("mkdtemp failed: errno \(errno)") }
        let tmp = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        return try await runTool(["/bin/sh", "-c", #"exec "$0" "$@" 2>&1"#, try await construirBinary(repository: Self.repository), "try", repo,
                                  "--image", "0", "--images", Self.images, "--done", done, "--memory", "512M", "--timeout", "180s"],
                                 environment: ["TMPDIR": tmp, "XDG_RUNTIME_DIR": ""])
    }

    @Test func anUncommittedChangeRunsAndIsMarkedAndTheRepositoryIsLeftAlone() async throws {
        try requireImage0()
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/tried"
            try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
            _ = try await git(["init", "-q"], in: repo)
            try Data("""
                #!/bin/bash
                echo "message: $(cat message.txt)"
                cp message.txt artifacts/
                exit "$(cat exit-code 2>/dev/null || echo 0)"

                """.utf8).write(to: URL(fileURLWithPath: "\(repo)/construir"))
            chmod("\(repo)/construir", 0o755)
            try Data("committed\n".utf8).write(to: URL(fileURLWithPath: "\(repo)/message.txt"))
            _ = try await git(["add", "-A"], in: repo)
            _ = try await git(["commit", "-q", "-m", "first"], in: repo)
            let head = try await git(["rev-parse", "HEAD"], in: repo)

            // An uncommitted change: the run must see it, and say so in result.json.
            try Data("not committed yet\n".utf8).write(to: URL(fileURLWithPath: "\(repo)/message.txt"))
            let before = try await state(of: repo)
            let run = try await tryRepository(repo, done: "\(dir)/done")
            #expect(run.status == 0, "\(run.output)")
            #expect(run.output.contains("message: not committed yet"), "\(run.output)")  // the console, live
            #expect(run.output.contains("\(head) with uncommitted changes"), "\(run.output)")  // the result printed
            #expect(try await state(of: repo) == before)

            let published = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/done")
            #expect(published.count == 1, "\(published)")
            let done = "\(dir)/done/\(try #require(published.first))"
            let result = try readResult(done)
            #expect(result.status == .passed, "\(result)")
            #expect(result.source == PackagedSource(commit: head, uncommittedChanges: true))
            #expect(try String(contentsOfFile: "\(done)/output/message.txt", encoding: .utf8) == "not committed yet\n")
            let json = try String(contentsOfFile: "\(done)/result.json", encoding: .utf8)
            #expect(json.contains("\"uncommitted_changes\" : true") && json.contains(head), "\(json)")

            // An untracked file that makes the script fail: try exits with the job's code (1, failed).
            try Data("3\n".utf8).write(to: URL(fileURLWithPath: "\(repo)/exit-code"))
            let failingBefore = try await state(of: repo)
            let failing = try await tryRepository(repo, done: "\(dir)/done")
            #expect(failing.status == 1, "\(failing.output)")
            #expect(try await state(of: repo) == failingBefore)
            let second = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/done").filter { !published.contains($0) }
            let failed = try readResult("\(dir)/done/\(try #require(second.first))")
            #expect(failed.status == .failed && failed.exitCode == 3, "\(failed)")
            #expect(failed.source == PackagedSource(commit: head, uncommittedChanges: true))
        }
    }

    /// A repository with only a `construir.yml` listing stages: they run in `/repo` with the
    /// packager's environment, and the artifacts are the output.
    @Test func aRepositoryWithOnlyStagesRunsThemInRepo() async throws {
        try requireImage0()
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/staged"
            try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
            _ = try await git(["init", "-q"], in: repo)
            try Data("""
                stages:
                  - name: build
                    script:
                      - echo "building in $PWD at $SOURCE_DATE_EPOCH"
                      - mkdir -p dist && cp message.txt dist/
                    artifacts: [dist/*]
                  - name: check
                    allow_failure: true
                    script: [grep -q nothing message.txt]

                """.utf8).write(to: URL(fileURLWithPath: "\(repo)/construir.yml"))
            try Data("hello stages\n".utf8).write(to: URL(fileURLWithPath: "\(repo)/message.txt"))
            _ = try await git(["add", "-A"], in: repo)
            _ = try await git(["commit", "-q", "-m", "stages"], in: repo)

            let run = try await tryRepository(repo, done: "\(dir)/done")
            #expect(run.status == 0, "passed_with_failures exits 0: \(run.output)")
            #expect(run.output.contains("building in /repo at 1700000000"), "\(run.output)")
            let published = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/done")
            let done = "\(dir)/done/\(try #require(published.first))"
            let result = try readResult(done)
            #expect(result.status == .passedWithFailures, "\(result)")
            #expect(result.stages?.map(\.status) == [.passed, .failed])
            #expect(try String(contentsOfFile: "\(done)/output/dist/message.txt", encoding: .utf8) == "hello stages\n")
        }
    }
}
}
