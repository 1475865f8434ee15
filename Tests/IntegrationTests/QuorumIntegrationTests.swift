import ConstruirSystem
import Foundation
import HubAPI
import HubClient
import JobModel
import Testing
import TestSupport

extension VMSuites {
/// Issue 16 on the real binaries: a hub with `--replicas 2`, two pull runners running real VMs,
/// and a forger with a valid runner token speaking the API.
@Suite(.serialized) struct QuorumIntegrationTests {
    @Test(.enabled(if: BuiltImages.available(1), "build image 1 is not built: construir image build 1 (scripts/test builds it)"))
    func honestReplicasAgreeRandomOutputsAndForgeriesAreDisputed() async throws {
        try requireImage0()
        try await HubTree.with { tree in
            let dir = tree.dir
            for name in ["runner-a", "runner-b", "forger"] { try tree.addToken(name, role: .runner) }
            try tree.addToken("submitter", role: .submitter)
            let (hub, url) = try await tree.startHub(lease: "60s", extra: ["--replicas", "2"], log: "\(dir)/hub.log")

            // The forger takes one replica of a job before any honest runner is up, and sends an
            // output of its own making with a valid token.
            try await HubTree.makeJob(script: "#!/bin/bash\nset -e\nmkdir -p /tmp/out\necho computed > /tmp/out/answer.txt\ntar -C /tmp/out -cJf /dev/sdb .\n",
                                      in: dir, name: "forged", to: "\(tree.queue)/forged_i0.tar.xz")
            try await tree.withClient("forger", url: url) { forger in
                let claim = try #require(try await forger.claim())
                let fake = "\(dir)/fake"
                try FileManager.default.createDirectory(atPath: fake, withIntermediateDirectories: true)
                try "forged\n".write(toFile: "\(fake)/answer.txt", atomically: false, encoding: .utf8)
                #expect(try await runTool(["tar", "-C", fake, "-cJf", "\(dir)/fake.tar.xz", "."]).status == 0)
                try await forger.uploadOutput(claim.id, file: "\(dir)/fake.tar.xz")
                let result = sampleResult(job: claim.job, status: .passed, exitCode: 0, finished: Date(), total: 1)
                #expect(try await forger.sendResult(claim.id, result: try result.encoded()).location.contains("waiting"))
            }

            // A job whose output is random: honest runners cannot agree on it.
            try await HubTree.makeJob(script: "#!/bin/bash\nset -e\nmkdir -p /tmp/out\nhead -c 64 /dev/urandom > /tmp/out/random.bin\ntar -C /tmp/out -cJf /dev/sdb .\n",
                                      in: dir, name: "random", to: "\(tree.queue)/random_i0.tar.xz")
            // A C project made with `construir package` for image 1: a reproducible build.
            let repo = "\(dir)/cproject"
            try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
            try "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 6 * 7); return 0; }\n"
                .write(toFile: "\(repo)/main.c", atomically: true, encoding: .utf8)
            try "answer: main.c\n\tcc -O2 -o answer main.c\n".write(toFile: "\(repo)/Makefile", atomically: true, encoding: .utf8)
            try "#!/bin/bash\nset -e\nmake\n./answer\ncp answer artifacts/\n".write(toFile: "\(repo)/construir", atomically: true, encoding: .utf8)
            for command in [["git", "init", "-q"], ["chmod", "+x", "construir"], ["git", "add", "."],
                            ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "c project"]] {
                let (status, log) = try await runTool(command, in: repo)
                #expect(status == 0, "\(command): \(log)")
            }
            let images = "\(RunnerIntegrationTests.repository)/images"
            let package = try RunnerProcess([repo, "--image", "1", "--images", images, "--hub", url, "--token-file", tree.tokenFile("submitter")],
                                             command: ["package"], log: "\(dir)/package.log")
            #expect(await package.wait(timeout: .seconds(120))?.status == 0, "\(package.log)")

            let runners = try ["runner-a", "runner-b"].map {
                try tree.startRunner($0, url: url, log: "\(dir)/\($0).log", extra: ["--memory", "1G", "--timeout", "300s"])
            }
            let results = try await tree.waitForResults(3, timeout: .seconds(540), logs: runners + [hub])

            let built = try #require(results.first { $0.key.hasPrefix("cproject") })
            #expect(built.value.status == .passed, "\(built.value.error ?? "")")
            #expect(built.value.quorum?.state == .agreed, "\(String(describing: built.value.quorum))")
            #expect(built.value.quorum?.replicas.map(\.runnerID).sorted() == ["runner-a", "runner-b"])
            #expect(built.value.quorum?.replicas.allSatisfy { $0.outputDigest == built.value.outputDigest } == true)
            let (exit, output) = try await runTool(["\(tree.done)/\(built.key)/output/answer"])
            #expect(exit == 0 && output == "42\n")

            let random = try #require(results["random"])
            #expect(random.status == .disputed)
            #expect(random.quorum?.replicas.map(\.runnerID).sorted() == ["runner-a", "runner-b"])
            for runner in ["runner-a", "runner-b"] {
                #expect(try FileSystem.size(of: "\(tree.done)/random/replicas/\(runner)/output/random.bin") == 64)
            }

            let forged = try #require(results["forged"])
            #expect(forged.status == .disputed)
            #expect(forged.quorum?.replicas.contains { $0.runnerID == "forger" } == true)
            let honest = try #require(forged.quorum?.replicas.first { $0.runnerID != "forger" }?.runnerID)
            #expect(try String(contentsOfFile: "\(tree.done)/forged/replicas/\(honest)/output/answer.txt", encoding: .utf8) == "computed\n")
            #expect(try String(contentsOfFile: "\(tree.done)/forged/replicas/forger/output/answer.txt", encoding: .utf8) == "forged\n")

            let reputation = Dictionary(uniqueKeysWithValues: try await tree.withClient("submitter", url: url) { try await $0.status() }
                .runners.map { ($0.name, $0.reputation) })
            #expect(reputation["forger"] == .init(agreed: 0, disputed: 1, errors: 0))
            #expect(reputation["runner-a"]?.agreed == 1 && reputation["runner-b"]?.agreed == 1)
            await tree.stop(runners + [hub])
        }
    }
}
}
