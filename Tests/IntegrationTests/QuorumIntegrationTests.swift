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
            // A C project made with `construir package` for image 1: a reproducible cmake build
            // whose ctest run prints a clock, so that the console snapshot (job_output.txt)
            // differs between honest runners as real test timings do. Twice: with the default
            // compare, and with `compare: ["**"]`, which compares the snapshot too.
            for (name, manifest) in [("cproject", nil), ("cstrict", "compare: [\"**\"]\n")] {
                try await packageCMakeProject(at: "\(dir)/\(name)", manifest: manifest, hub: url, token: tree.tokenFile("submitter"))
            }

            let runners = try ["runner-a", "runner-b"].map {
                try tree.startRunner($0, url: url, log: "\(dir)/\($0).log", extra: ["--memory", "1G", "--timeout", "300s"])
            }
            let results = try await tree.waitForResults(4, timeout: .seconds(900), logs: runners + [hub])

            let built = try #require(results.first { $0.key.hasPrefix("cproject") })
            #expect(built.value.status == .passed, "\(built.value.error ?? "")")
            #expect(built.value.quorum?.state == .agreed, "\(String(describing: built.value.quorum))")
            #expect(built.value.quorum?.replicas.map(\.runnerID).sorted() == ["runner-a", "runner-b"])
            #expect(built.value.quorum?.replicas.allSatisfy { $0.outputDigest == built.value.outputDigest } == true)
            #expect(built.value.comparison?.leftOut == ["job_output.txt"])
            #expect(built.value.comparison?.compared.contains("answer") == true)
            let (exit, output) = try await runTool(["\(tree.done)/\(built.key)/output/answer"])
            #expect(exit == 0 && output == "42\n")
            let console = try String(contentsOfFile: "\(tree.done)/\(built.key)/output/job_output.txt", encoding: .utf8)
            #expect(console.contains("100% tests passed"), "ctest ran: \(console.suffix(2000))")
            for runner in ["runner-a", "runner-b"] {
                #expect(FileManager.default.fileExists(atPath: "\(tree.done)/\(built.key)/replicas/\(runner)/console.log"), "each replica's console stays")
            }

            let strict = try #require(results.first { $0.key.hasPrefix("cstrict") })
            #expect(strict.value.status == .disputed)
            #expect(strict.value.quorum?.differing == ["job_output.txt"], "\(String(describing: strict.value.quorum))")
            #expect(strict.value.error?.contains("job_output.txt") == true)

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
            #expect(reputation["forger"].map { [$0.agreed, $0.disputed, $0.errors] } == [0, 1, 0])
            #expect(reputation["runner-a"]?.agreed == 1 && reputation["runner-b"]?.agreed == 1)
            await tree.stop(runners + [hub])
        }
    }

    /// A git repository at `repo` with a cmake project (a library, a program, two ctest tests,
    /// one printing the time in nanoseconds) and `manifest` as its construir.yml, packaged for
    /// image 1 and sent to the hub at `hub`.
    private func packageCMakeProject(at repo: String, manifest: String?, hub: String, token: String) async throws {
        try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
        let files = [
            ("answer.c", "int answer(void) { return 6 * 7; }\n"),
            ("main.c", "#include <stdio.h>\nint answer(void);\nint main(void) { printf(\"%d\\n\", answer()); return answer() == 42 ? 0 : 1; }\n"),
            ("CMakeLists.txt", """
                cmake_minimum_required(VERSION 3.13)
                project(answer C)
                add_library(answerlib STATIC answer.c)
                add_executable(answer main.c)
                target_link_libraries(answer answerlib)
                enable_testing()
                add_test(NAME answers COMMAND answer)
                add_test(NAME clock COMMAND date +%s%N)

                """),
            ("construir", "#!/bin/bash\nset -e\ncmake -S . -B build\ncmake --build build\n(cd build && ctest -V)\ncp build/answer artifacts/\n"),
        ] + (manifest.map { [("construir.yml", $0)] } ?? [])
        for (name, text) in files { try text.write(toFile: "\(repo)/\(name)", atomically: true, encoding: .utf8) }
        for command in [["git", "init", "-q"], ["chmod", "+x", "construir"], ["git", "add", "."],
                        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "cmake project"]] {
            let (status, log) = try await runTool(command, in: repo)
            #expect(status == 0, "\(command): \(log)")
        }
        let images = "\(RunnerIntegrationTests.repository)/images"
        let package = try RunnerProcess([repo, "--image", "1", "--images", images, "--hub", hub, "--token-file", token],
                                         command: ["package"], log: "\(repo).package.log")
        #expect(await package.wait(timeout: .seconds(120))?.status == 0, "\(package.log)")
    }
}
}
