import ConstruirSystem
import Foundation
import JobModel
import Packager
import Testing
import TestSupport

@Suite struct EnvironmentTests {
    /// The wrapper's environment lines, between its markers.
    private func environmentPart(of script: String) throws -> String {
        let lines = script.components(separatedBy: "\n")
        let begin = try #require(lines.firstIndex(of: JobLayout.environmentBegin))
        let end = try #require(lines.firstIndex(of: JobLayout.environmentEnd))
        return lines[(begin + 1)..<end].joined(separator: "\n") + "\n"
    }

    /// Runs the environment part with bash in `directory` and returns the values of `names`.
    private func evaluate(_ part: String, names: [String], in directory: String) async throws -> [String] {
        let printing = names.map { "printf '%s\\0' \"$\($0)\"" }.joined(separator: "\n")
        try writeFile("\(directory)/env.sh", part + printing + "\n")
        let (status, output) = try await runTool(["bash", "env.sh"], in: directory)
        #expect(status == 0)
        return output.split(separator: "\0", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    @Test func builtInVariablesDescribeTheCommit() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            try await git(["tag", "v1.0"], in: repo)
            try writeFile("\(repo)/more.txt", "more")
            try await git(["add", "more.txt"], in: repo)
            try await git(["commit", "-q", "-m", "second"], in: repo)
            try await git(["remote", "add", "origin", "https://user:secret-token@example.com/team/project.git"], in: repo)
            let short = try await git(["rev-parse", "--short=12", "HEAD"], in: repo)

            let result = try package(repo, into: "\(dir)/queue")
            #expect(result.environment.map(\.description) == [
                "REPO_URL=https://example.com/team/project.git", "COMMIT_HASH=\(short)", "BRANCH=main", "TAG=v1.0",
                "SOURCE_DATE_EPOCH=\(commitTime)",
            ])
            let values = try await evaluate(environmentPart(of: wrapper(result.files[0])),
                                      names: ["REPO_URL", "COMMIT_HASH", "BRANCH", "TAG", "SOURCE_DATE_EPOCH"], in: dir)
            #expect(values == ["https://example.com/team/project.git", short, "main", "v1.0", "\(commitTime)"])
            #expect(!(try await wrapper(result.files[0])).contains("secret-token"))
        }
    }

    @Test func detachedHeadsTagsAndRepositoriesWithoutOrigin() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            try await git(["checkout", "-q", "--detach"], in: repo)
            let detached = try package(repo, into: "\(dir)/a")
            let variables = Dictionary(uniqueKeysWithValues: detached.environment.map { ($0.name, $0.value) })
            #expect(variables["BRANCH"] == "")
            #expect(variables["TAG"] == "")
            #expect(variables["REPO_URL"] == repo)
            // Naming a branch gives that branch, whatever HEAD is.
            let named = try package(repo, into: "\(dir)/b", revision: "main")
            #expect(named.environment.first { $0.name == "BRANCH" }?.value == "main")
        }
    }

    @Test func hostileValuesStayData() async throws {
        let hostile = ["$(touch pwned)", "'\"", "`touch pwned`", "a'b'c", "line1\nline2", "\\", "$HOME ${PATH}", "!x !!", "", " spaced ", "; touch pwned #"]
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            let variables = try hostile.enumerated().map { try EnvironmentVariable(name: "V\($0.offset)", value: $0.element) }
            let result = try package(repo, into: "\(dir)/queue", environment: variables)
            let part = try await environmentPart(of: wrapper(result.files[0]))
            try FileManager.default.createDirectory(atPath: "\(dir)/run", withIntermediateDirectories: true)
            let values = try await evaluate(part, names: variables.map(\.name), in: "\(dir)/run")
            #expect(values == hostile)
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/run/pwned"))
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/run") == ["env.sh"])
        }
    }

    @Test func extraVariablesOverrideBuiltInOnes() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            let result = try package(repo, into: "\(dir)/queue", environment: [
                try EnvironmentVariable(parsing: "TAG=custom"), try EnvironmentVariable(parsing: "OPTS=a=b=c"),
            ])
            #expect(result.environment.map(\.name) == ["REPO_URL", "COMMIT_HASH", "BRANCH", "TAG", "SOURCE_DATE_EPOCH", "OPTS"])
            #expect(result.environment.map(\.value)[3] == "custom")
            #expect(result.environment.map(\.value).last == "a=b=c")
        }
    }

    /// SOURCE_DATE_EPOCH is the committer time of the packaged commit (not the author time, not
    /// another commit's), and the same commit still gives the same bytes.
    @Test func sourceDateEpochIsTheCommittersTime() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            try writeFile("\(repo)/later.txt", "later")
            try await git(["add", "later.txt"], in: repo)
            let committed: Int64 = 1_712_345_678
            let (status, _) = try await runTool(["git", "commit", "-q", "-m", "later"], in: repo, environment: [
                "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com", "GIT_AUTHOR_DATE": "1600000000 +0200",
                "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
                "GIT_COMMITTER_DATE": "\(committed) -0700", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
            ])
            #expect(status == 0)

            let latest = try package(repo, into: "\(dir)/a")
            let values = try await evaluate(environmentPart(of: wrapper(latest.files[0])), names: ["SOURCE_DATE_EPOCH"], in: dir)
            #expect(values == ["\(committed)"])
            let first = try package(repo, into: "\(dir)/b", revision: "HEAD~1")
            #expect(first.environment.first { $0.name == "SOURCE_DATE_EPOCH" }?.value == "\(commitTime)")

            let again = try package(repo, into: "\(dir)/c")
            #expect(try bytes(at: again.files[0]) == (try bytes(at: latest.files[0])))
        }
    }

    @Test func aGivenSourceDateEpochWinsButMustBeSeconds() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            let given = try package(repo, into: "\(dir)/a", environment: [try EnvironmentVariable(parsing: "SOURCE_DATE_EPOCH=42")])
            #expect(given.environment.filter { $0.name == "SOURCE_DATE_EPOCH" }.map(\.value) == ["42"])
            let values = try await evaluate(environmentPart(of: wrapper(given.files[0])), names: ["SOURCE_DATE_EPOCH"], in: dir)
            #expect(values == ["42"])

            for bad in ["", "yesterday", "-1", "1e9", "12 ", "$(date +%s)", String(repeating: "9", count: 19)] {
                let message = expectFailure(.invalidArgument) {
                    _ = try package(repo, into: "\(dir)/bad", environment: [try EnvironmentVariable(name: "SOURCE_DATE_EPOCH", value: bad)])
                }
                #expect(message.contains("SOURCE_DATE_EPOCH must be seconds since the epoch"), "\(message)")
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/bad").isEmpty)
        }
    }

    @Test func credentialsAreRemovedFromURLs() async throws {
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/project"
            try await makeRepository(at: repo)
            for (url, expected) in [
                ("https://tok@github.com/a/b.git", "https://github.com/a/b.git"),
                ("ssh://git@host:22/a/b", "ssh://host:22/a/b"),
                ("git@github.com:a/b.git", "git@github.com:a/b.git"),
                ("https://github.com/a/b@v1", "https://github.com/a/b@v1"),
            ] {
                try await git(["config", "remote.origin.url", url], in: repo)
                let result = try package(repo, into: "\(dir)/queue")
                #expect(result.environment[0].value == expected)
            }
        }
    }
}

