import Foundation
import HubAPI
import HubClient
import JobModel
import Testing
import TestSupport

/// Issue 30 against a real `construir hub serve`, with the test as its runners: majorities
/// with a forger among three, replicas added when none forms, a runner that fails every job
/// running into its quota, and a lease that ends at its job's limit.
extension HubProtocolTests {
    @Test(arguments: Store.tested) func aMajorityOutvotesAForgerAndNoMajorityAsksForAnotherRunner(store: Store) async throws {
        try await withHub(store, extra: ["--replicas", "2", "--max-replicas", "3"], runners: ["forger", "runner-c"]) { tree, url in
            let honest = try await outputArchive(tree, "honest", [("x.txt", "x"), ("job_output.txt", "took 0.12 s")])
            let honestToo = try await outputArchive(tree, "honest-too", [("x.txt", "x"), ("job_output.txt", "took 0.09 s")])
            let forged = try await outputArchive(tree, "forged", [("x.txt", "forged"), ("job_output.txt", "took 0.1 s")])

            // The forger and an honest runner disagree: no majority, so a third runner is asked.
            try await queueJob(tree, name: "vote_i0.tar.xz")
            _ = try await deliver(tree, url: url, as: "forger", archive: forged)
            #expect(try await deliver(tree, url: url, as: "runner-a", archive: honest).location.contains("waiting for 1 more"))
            #expect(try await deliver(tree, url: url, as: "runner-b", archive: honestToo).status == .passed)
            let vote = try readResult("\(tree.done)/vote")
            #expect(vote.status == .passed && vote.quorum?.state == .agreed)
            #expect(vote.quorum?.dissenters == ["forger"])
            #expect(vote.quorum?.replicas.count == 3)
            #expect(vote.runnerID == "runner-a", "the first result of the majority is the job's")
            #expect(vote.comparison?.leftOut == ["job_output.txt"], "the console snapshot is not compared by default")
            #expect(try String(contentsOfFile: "\(tree.done)/vote/output/x.txt", encoding: .utf8) == "x")
            #expect(try String(contentsOfFile: "\(tree.done)/vote/replicas/forger/output/x.txt", encoding: .utf8) == "forged",
                    "the outvoted output stays as evidence")
            #expect(!FileManager.default.fileExists(atPath: "\(tree.done)/vote/replicas/runner-b/output"))

            // Three different outputs at --max-replicas: disputed, naming the path that differs.
            try await queueJob(tree, name: "split_i0.tar.xz")
            _ = try await deliver(tree, url: url, as: "forger", archive: forged)
            _ = try await deliver(tree, url: url, as: "runner-a", archive: honest)
            let third = try await outputArchive(tree, "third", [("x.txt", "y"), ("job_output.txt", "")])
            #expect(try await deliver(tree, url: url, as: "runner-c", archive: third).status == .disputed)
            let split = try readResult("\(tree.done)/split")
            #expect(split.quorum?.state == .disputed && split.quorum?.differing == ["x.txt"])
            #expect(split.error?.contains("compared paths that differ: x.txt") == true, "\(split.error ?? "")")

            let runners = try await tree.withClient("runner-a", url: url) { try await $0.status() }.runners
            let record = Dictionary(uniqueKeysWithValues: runners.map { ($0.name, [$0.reputation.agreed, $0.reputation.disputed, $0.reputation.agreedInARow ?? -1]) })
            #expect(record["runner-a"] == [1, 1, 0] && record["runner-b"] == [1, 0, 1] && record["forger"] == [0, 2, 0], "\(record)")
        }
    }

    @Test(arguments: Store.tested) func aRunnerThatFailsEveryJobRunsIntoItsQuotaWhileAnotherFinishesThem(store: Store) async throws {
        try await withHub(store, extra: ["--daily-quota", "4", "--max-attempts", "5"], runners: ["broken"]) { tree, url in
            for index in 1...4 { try await queueJob(tree, name: "job\(index)_i0.tar.xz") }
            try await tree.withClient("broken", url: url) { broken in
                // Quota 4: each error halves it; the second hold leaves it at 1 of 2 taken.
                for _ in 0..<2 {
                    let claim = try #require(try await broken.claim())
                    let result = sampleResult(job: claim.job, status: .error, finished: Date(), total: 1)
                    _ = try await broken.sendResult(claim.id, result: try result.encoded())
                }
                let (claim, reason) = try await broken.claimOrReason()
                #expect(claim == nil)
                #expect(reason?.contains("daily quota of 1") == true, "\(reason ?? "no reason")")
                #expect(try await broken.waitForWork(seconds: 1) == false, "its long poll does not wake it for a job it cannot have")
            }
            let output = try await outputArchive(tree, "out", [("x.txt", "x")])
            for _ in 1...4 { #expect(try await deliver(tree, url: url, as: "runner-a", archive: output).status == .passed) }
            for index in 1...4 { #expect(try readResult("\(tree.done)/job\(index)").status == .passed) }
            let runners = try await tree.withClient("runner-a", url: url) { try await $0.status() }.runners
            let broken = try #require(runners.first { $0.name == "broken" }?.reputation)
            #expect(broken.errors == 2 && broken.quota == 1 && broken.holdsToday == 2)
            let binary = try await construirBinary(repository: VMSuites.RunnerIntegrationTests.repository)
            let (_, text) = try await runTool([binary, "status", "--hub", url, "--token-file", tree.tokenFile("runner-a")])
            #expect(text.contains("today 2/1"), "\(text)")
            let (_, metrics) = try await runTool(["curl", "-sf", url + "/metrics"])
            #expect(metrics.contains("construir_hub_runner_daily_quota{runner=\"broken\"} 1"), "\(metrics)")
            #expect(metrics.contains("construir_hub_runner_daily_quota{runner=\"runner-a\"} 4"))
        }
    }

    @Test(arguments: Store.tested) func aLeaseEndsAtItsJobsLimitWhateverItsHeartbeatsSay(store: Store) async throws {
        try await withHub(store, lease: "60s", extra: ["--lease-margin", "3s"]) { tree, url in
            let source = "\(tree.dir)/limited"
            try FileManager.default.createDirectory(atPath: "\(source)/job", withIntermediateDirectories: true)
            try "#!/bin/bash\nsleep 1\n".write(toFile: "\(source)/job/construir", atomically: false, encoding: .utf8)
            try "timeout: 2s\n".write(toFile: "\(source)/job/construir.yml", atomically: false, encoding: .utf8)
            let repository = VMSuites.RunnerIntegrationTests.repository
            let (status, log) = try await runTool(["\(repository)/jobs/make-job.sh", source, "\(tree.dir)/limited.packed"])
            #expect(status == 0, "\(log)")
            try FileManager.default.moveItem(atPath: "\(tree.dir)/limited.packed", toPath: "\(tree.queue)/limited_i0.tar.xz")
            try await tree.withClient("runner-a", url: url) { greedy in
                let claim = try #require(try await greedy.claim())
                let started = ContinuousClock.now
                // Heartbeats every half second, for as long as the hub takes them.
                var lost: ContinuousClock.Duration?
                while ContinuousClock.now - started < .seconds(30) {
                    do {
                        _ = try await greedy.heartbeat(claim.id)
                    } catch {
                        lost = ContinuousClock.now - started
                        break
                    }
                    try await Task.sleep(for: .milliseconds(500))
                }
                let after = try #require(lost, "the hold outlived its limit of 5 s")
                #expect(after >= .seconds(4), "the hold lasts the job's timeout and the margin (\(after))")
            }
            // The job goes to the next runner once the hub's maintenance ends the hold (within a
            // second or two), and the lost hold counts as a failure.
            let next = try await tree.withClient("runner-b", url: url) { client in
                let deadline = ContinuousClock.now + .seconds(15)
                while ContinuousClock.now < deadline {
                    if let claim = try await client.claim() { return Optional(claim) }
                    try await Task.sleep(for: .milliseconds(200))
                }
                return nil
            }
            #expect(next?.job == "limited_i0.tar.xz" && next?.attempt == 2)
            let runners = try await tree.withClient("runner-b", url: url) { try await $0.status() }.runners
            #expect(runners.first { $0.name == "runner-a" }?.reputation.errors == 1)
        }
    }
}
