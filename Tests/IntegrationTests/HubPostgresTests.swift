import Foundation
import HubAPI
import HubClient
import JobModel
import Synchronization
import Testing
import TestSupport

/// Several hubs on one PostgreSQL database and one job directory, as real processes, with the
/// test's clients as runners: no job is held by two runners at once, each ends in done/ once,
/// and a hub killed mid-run loses nothing the other cannot finish.
@Suite(.serialized, .timeLimit(.minutes(5)),
       .enabled(if: PostgresCluster.available, "PostgreSQL is not installed (scripts/install-deps installs it)"))
struct HubPostgresTests {
    /// What the clients saw: who holds what now, and every breach of "one holder at a time".
    private final class Ledger: Sendable {
        private struct State {
            var holding: [String: String] = [:]
            var breaches: [String] = []
            var delivered = 0
            var hubKilled = false
            var deliveredWhenKilled = 0
        }
        private let state = Mutex(State())

        func hold(_ id: String, by client: String) {
            state.withLock { state in
                if let other = state.holding[id] { state.breaches.append("\(id) held by \(other) and \(client)") }
                state.holding[id] = client
            }
        }

        func drop(_ id: String, delivered: Bool) {
            state.withLock { state in
                state.holding[id] = nil
                if delivered { state.delivered += 1 }
            }
        }

        func hubWasKilled() {
            state.withLock { state in
                state.hubKilled = true
                state.deliveredWhenKilled = state.delivered
            }
        }

        var deliveredWhenKilled: Int { state.withLock { $0.deliveredWhenKilled } }

        var hubKilled: Bool { state.withLock { $0.hubKilled } }
        var delivered: Int { state.withLock { $0.delivered } }
        var breaches: [String] { state.withLock { $0.breaches } }
    }

    @Test func twoHubsShareOneDatabaseAndAKilledHubLosesNothing() async throws {
        try await PostgresCluster.with { cluster in
        try await withTemporaryDirectory { dir in
            let url = try await cluster.database("hub")
            let tree = HubTree(dir: dir)
            defer { tree.endEverything() }
            let jobs = 200
            let clients = 20
            for index in 0..<clients { try tree.addToken("runner-\(index)", role: .runner) }
            try FileManager.default.createDirectory(atPath: tree.queue, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
            let repository = VMSuites.RunnerIntegrationTests.repository
            let (status, log) = try await runTool(["\(repository)/jobs/make-job.sh", "\(repository)/jobs/hello", "\(dir)/hello.packed"])
            #expect(status == 0, "\(log)")
            for index in 0..<jobs {
                try FileManager.default.copyItem(atPath: "\(dir)/hello.packed", toPath: "\(dir)/.job-\(index)")
                try FileManager.default.moveItem(atPath: "\(dir)/.job-\(index)", toPath: "\(tree.queue)/job-\(index)_i0.tar.xz")
            }
            let output = "\(dir)/output.tar.xz"
            try "hi\n".write(toFile: "\(dir)/hello.txt", atomically: false, encoding: .utf8)
            _ = try await runTool(["tar", "-cJf", output, "-C", dir, "hello.txt"])
            let extra = ["--database", url, "--finish-timeout", "3s", "--max-leases", "4"]
            // The clients send no heartbeats: a lease must outlast a claim, an upload and a result
            // on a loaded machine (2 cores, the rest of the suite beside it), or it runs out and
            // the job rightly goes to another client while the first still sends, which the
            // ledger would count as two holds. 5 s was too short once in a full run. The jobs
            // hub A held when it was killed come back when their leases run out.
            let (hubA, urlA) = try await tree.startHub(lease: "20s", extra: extra, log: "\(dir)/hub-a.log")
            let (hubB, urlB) = try await tree.startHub(lease: "20s", extra: extra, log: "\(dir)/hub-b.log")
            let ledger = Ledger()
            do {
                try await withThrowingDiscardingTaskGroup { group in
                    for index in 0..<clients {
                        group.addTask {
                            try await runClient("runner-\(index)", urls: index % 2 == 0 ? [urlA, urlB] : [urlB, urlA],
                                                tree: tree, output: output, ledger: ledger, total: jobs)
                        }
                    }
                    group.addTask {
                        // Kill hub A once a quarter of the jobs are delivered, whatever it is doing.
                        while ledger.delivered < jobs / 4 { try await Task.sleep(for: .milliseconds(20)) }
                        hubA.signal(SIGKILL)
                        ledger.hubWasKilled()
                    }
                }
                let results = try await tree.waitForResults(jobs, timeout: .seconds(120), logs: [hubA, hubB])
                #expect(ledger.breaches.isEmpty, "\(ledger.breaches)")
                #expect(hubA.log.contains("leased job") && hubB.log.contains("leased job"), "both hubs handed out jobs")
                #expect(ledger.deliveredWhenKilled < jobs, "hub A died with jobs left: \(ledger.deliveredWhenKilled)")
                let names = try FileManager.default.contentsOfDirectory(atPath: tree.done).filter { !$0.hasPrefix(".") }
                #expect(names.count == jobs, "each job in done/ once: \(names.filter { $0.contains(".") })")
                #expect(Set(results.keys) == Set((0..<jobs).map { "job-\($0)" }))
                #expect(results.values.allSatisfy { $0.status == .passed }, "\(results.values.filter { $0.status != .passed }.map(\.error))")
                let status = try await tree.withClient("runner-0", url: urlB) { try await $0.status() }
                #expect(status.queued == 0 && status.leases.isEmpty)
            } catch {
                await tree.stop([hubA, hubB])
                throw ConstruirTestError("\(error)\nhub A:\n\(hubA.log)\nhub B:\n\(hubB.log)")
            }
            await tree.stop([hubA, hubB])
        }
        }
    }

    /// One test runner: claims through its first hub (the other once that one is gone), sends
    /// an output and a passed result, until every job is delivered.
    private func runClient(_ name: String, urls: [String], tree: HubTree, output: String, ledger: Ledger, total: Int) async throws {
        var hub = 0
        let deadline = ContinuousClock.now + .seconds(150)
        // Done when done/ has every job: a result whose answer a killed hub never sent still counts.
        let finished = { ((try? FileManager.default.contentsOfDirectory(atPath: tree.done)) ?? []).count >= total }
        while !finished(), ContinuousClock.now < deadline {
            do {
                try await tree.withClient(name, url: urls[hub]) { client in
                    while !finished(), ContinuousClock.now < deadline {
                        guard let claim = try await client.claim() else {
                            try await Task.sleep(for: .milliseconds(200))
                            continue
                        }
                        ledger.hold(claim.id, by: name)
                        do {
                            try await client.uploadOutput(claim.id, file: output)
                            let result = sampleResult(job: claim.job, status: .passed, exitCode: 0, finished: Date(), total: 1)
                            _ = try await client.sendResult(claim.id, result: try result.encoded())
                            ledger.drop(claim.id, delivered: true)
                        } catch let error as HubClientError where error.kind == .leaseLost {
                            ledger.drop(claim.id, delivered: false)
                        } catch {
                            ledger.drop(claim.id, delivered: false)  // its hub is gone: the job comes back by lease or settling
                            throw error
                        }
                    }
                }
            } catch {
                guard ledger.hubKilled else { throw error }
                hub = 1  // its first hub was killed: go on through the other
            }
        }
    }
}
