import ConstruirCLI
import Foundation
import Logging
import Packager
import Testing
import TestSupport
@testable import JobModel
@testable import Runner
import VMHost

extension VMSuites {
/// `construir package` end to end: a git repository becomes a job, the job runs in a real VM
/// from build image 0, and its artifacts come back.
@Suite(.serialized) struct PackageIntegrationTests {
    static let imagesDirectory = "\(RunnerIntegrationTests.repository)/images"

    private func git(_ arguments: [String], in directory: String) async throws -> String {
        try await testGit(arguments, in: directory)
    }

    private func commitScript(_ script: String, in repo: String, message: String) async throws -> String {
        try Data(script.utf8).write(to: URL(fileURLWithPath: "\(repo)/construir"))
        chmod("\(repo)/construir", 0o755)
        _ = try await git(["add", "-A"], in: repo)
        _ = try await git(["commit", "-q", "-m", message], in: repo)
        return try await git(["rev-parse", "--short=12", "HEAD"], in: repo)
    }

    @Test func aPackagedRepositoryRunsInAVMAndItsArtifactsComeBack() async throws {
        try requireImage0()
        try await withTemporaryDirectory { dir in
            let repo = "\(dir)/hello-repo"
            try FileManager.default.createDirectory(atPath: "\(repo)/src", withIntermediateDirectories: true)
            _ = try await git(["init", "-q"], in: repo)
            _ = try await git(["remote", "add", "origin", "https://example.com/hello-repo.git"], in: repo)
            try Data("made from the repository\n".utf8).write(to: URL(fileURLWithPath: "\(repo)/src/input.txt"))
            let passing = try await commitScript("""
                #!/bin/bash
                echo "building $COMMIT_HASH"
                {
                    echo "commit=$COMMIT_HASH"
                    echo "url=$REPO_URL"
                    echo "branch=$BRANCH"
                    echo "greeting=$GREETING"
                    echo "epoch=$SOURCE_DATE_EPOCH"
                    cat src/input.txt
                } > artifacts/result.txt
                """, in: repo, message: "passing")
            let failing = try await commitScript("""
                #!/bin/bash
                echo partial > artifacts/result.txt
                exit 5
                """, in: repo, message: "failing")

            // Through the command line, as a user would.
            let queue = "\(dir)/queue"
            try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
            for (revision, environment) in [("HEAD~1", "GREETING=hello 'world' $(id)"), ("HEAD", "GREETING=unused")] {
                let command = try PackageCommand.parse([repo, "--rev", revision, "--queue", queue,
                                                        "--images", Self.imagesDirectory, "-e", environment])
                try await command.run()
            }
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: queue)) == [
                "hello-repo_\(passing)_i0.tar.xz", "hello-repo_\(failing)_i0.tar.xz",
            ])
            // The passing job once more, under another name: an honest replica.
            try FileManager.default.copyItem(atPath: "\(queue)/hello-repo_\(passing)_i0.tar.xz",
                                             toPath: "\(queue)/hello-repo_\(passing)-again_i0.tar.xz")

            try await makeTestRunner(in: dir, images: Self.imagesDirectory, timeout: .seconds(180)).run()

            let done = "\(dir)/done/hello-repo_\(passing)"
            let result = try JobResult.decode(Data(contentsOf: URL(fileURLWithPath: "\(done)/result.json")))
            #expect(result.status == .passed, "\(result)")
            #expect(result.exitCode == 0)
            let output = try String(contentsOfFile: "\(done)/output/result.txt", encoding: .utf8)
            #expect(output == """
                commit=\(passing)
                url=https://example.com/hello-repo.git
                branch=
                greeting=hello 'world' $(id)
                epoch=1700000000
                made from the repository

                """)
            let log = try String(contentsOfFile: "\(done)/output/job_output.txt", encoding: .utf8)
            #expect(log.contains("building \(passing)"))
            // The replica's output has the same bytes: the wrapper archives in a fixed order, with
            // the commit's time and owner 0/0, though its files were made at another time.
            let replica = "\(dir)/done/hello-repo_\(passing)-again"
            #expect(try JobResult.decode(Data(contentsOf: URL(fileURLWithPath: "\(replica)/result.json"))).status == .passed)
            let archive = try Data(contentsOf: URL(fileURLWithPath: "\(done)/output.tar.xz"))
            #expect(!archive.isEmpty)
            #expect(try Data(contentsOf: URL(fileURLWithPath: "\(replica)/output.tar.xz")) == archive)
            let (listed, listing) = try await runTool(["bash", "-c", "xz -dc < \"$1\" | tar --numeric-owner --full-time -tvf -", "list",
                                                       "\(done)/output.tar.xz"], environment: ["TZ": "UTC"])
            #expect(listed == 0)
            let entries = listing.split(separator: "\n")
            #expect(entries.count == 3, "\(listing)")  // ./, ./result.txt, job_output.txt
            #expect(entries.allSatisfy { $0.contains(" 0/0 ") && $0.contains(" 2023-11-14 22:13:20 ") }, "\(listing)")

            // The script's exit code survives the wrapper, and the artifacts are still collected.
            let failed = "\(dir)/done/hello-repo_\(failing)"
            let failure = try JobResult.decode(Data(contentsOf: URL(fileURLWithPath: "\(failed)/result.json")))
            #expect(failure.status == .failed)
            #expect(failure.exitCode == 5)
            #expect(try String(contentsOfFile: "\(failed)/output/result.txt", encoding: .utf8) == "partial\n")
        }
    }
}
}
