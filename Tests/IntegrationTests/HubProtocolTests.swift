import AsyncHTTPClient
import Crypto
import Foundation
import Hub
import HubAPI
import HubClient
import ConstruirSystem
import JobModel
import Logging
import NIOCore
import NIOHTTP1
import Testing
import TestSupport

/// The hub's API against a real `construir hub serve` process, with the test as the client:
/// who is refused, and what a lying or late runner can do (nothing).
@Suite(.serialized, .timeLimit(.minutes(5))) struct HubProtocolTests {
    /// A hub with a runner, a second runner and two submitter tokens.
    /// The store a test's hub keeps its state in: the same protocol tests run on both.
    enum Store: String, CaseIterable, Sendable {
        case sqlite, postgres

        /// Without PostgreSQL its cases are left out (HubPostgresTests says why it is skipped).
        static var tested: [Store] { PostgresCluster.available ? allCases : [.sqlite] }
    }

    /// `runners`: more runner tokens, besides runner-a and runner-b; `NAME@TAG` grants TAG.
    func withHub(_ store: Store, lease: String = "20s", extra: [String] = [], runners: [String] = [],
                 _ body: (HubTree, String) async throws -> Void) async throws {
        guard store == .postgres else { return try await withHub(lease: lease, extra: extra, runners: runners, body) }
        try await PostgresCluster.with { cluster in
            let url = try await cluster.database("hub")
            try await withHub(lease: lease, extra: extra + ["--database", url], runners: runners, body)
        }
    }

    private func withHub(lease: String, extra: [String], runners: [String] = [], _ body: (HubTree, String) async throws -> Void) async throws {
        try await HubTree.with { tree in
            let dir = tree.dir
            for runner in ["runner-a", "runner-b"] + runners {
                // NAME@TAG: a runner token the hub grants TAG.
                let parts = runner.split(separator: "@").map(String.init)
                try tree.addToken(parts[0], role: .runner, tags: Array(parts.dropFirst()))
            }
            try tree.addToken("submitter", role: .submitter)
            try tree.addToken("submitter-b", role: .submitter)
            let (hub, url) = try await tree.startHub(lease: lease, extra: extra, log: "\(dir)/hub.log")
            do {
                try await body(tree, url)
            } catch {
                await tree.stop([hub])
                throw ConstruirTestError("\(error)\nhub log:\n\(hub.log)")
            }
            await tree.stop([hub])
        }
    }

    func queueJob(_ tree: HubTree, name: String) async throws {
        let repository = VMSuites.RunnerIntegrationTests.repository
        let (status, log) = try await runTool(["\(repository)/jobs/make-job.sh", "\(repository)/jobs/hello", "\(tree.dir)/\(name).packed"])
        guard status == 0 else { throw ConstruirTestError("make-job.sh: \(log)") }
        try FileManager.default.moveItem(atPath: "\(tree.dir)/\(name).packed", toPath: "\(tree.queue)/\(name)")
    }

    /// The result.json of done/NAME, once the hub wrote it (its maintenance ends failed jobs
    /// within a second).
    func waitForResult(_ tree: HubTree, _ name: String) async throws -> JobResult {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let result = try? readResult("\(tree.done)/\(name)") { return result }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try readResult("\(tree.done)/\(name)")
    }

    /// The status of `METHOD url` with `authorization` as given (none when nil).
    private func statusCode(_ method: HTTPMethod, _ url: String, authorization: String?) async throws -> UInt {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        return response.status.code
    }

    @Test(arguments: Store.tested) func callsWithoutAValidTokenOrWithTheWrongRoleAreRefused(store: Store) async throws {
        try await withHub(store) { tree, url in
            let runner = "Bearer \(try tree.secret("runner-a"))"
            let submitter = "Bearer \(try tree.secret("submitter"))"
            #expect(try await statusCode(.POST, url + HubPaths.claim, authorization: nil) == 401)
            #expect(try await statusCode(.POST, url + HubPaths.claim, authorization: "Bearer construir_0000") == 401)
            #expect(try await statusCode(.POST, url + HubPaths.claim, authorization: submitter) == 403)
            #expect(try await statusCode(.GET, url + HubPaths.work + "?wait=0", authorization: submitter) == 403)
            #expect(try await statusCode(.POST, url + HubPaths.jobs + "?name=x_i0.tar.xz", authorization: runner) == 403)
            #expect(try await statusCode(.POST, url + HubPaths.claim, authorization: runner) == 204)
            // A path the hub serves, asked with another method: 405, with or without a token; an
            // unknown path: 404.
            #expect(try await statusCode(.GET, url + HubPaths.claim, authorization: runner) == 405)
            #expect(try await statusCode(.DELETE, url + HubPaths.heartbeat("some-id"), authorization: nil) == 405)
            #expect(try await statusCode(.TRACE, url + "/metrics", authorization: nil) == 405)
            #expect(try await statusCode(.GET, url + "/api/v1/nothing", authorization: runner) == 404)

            // Revoked: refused within the hub's reload interval (about a second).
            try HubTokenStore(path: tree.tokens).revoke(name: "runner-a")
            var code: UInt = 0
            for _ in 0..<50 {
                code = try await statusCode(.POST, url + HubPaths.claim, authorization: runner)
                if code == 401 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(code == 401)
            #expect(try await statusCode(.POST, url + HubPaths.claim, authorization: "Bearer \(try tree.secret("runner-b"))") == 204)
        }
    }

    @Test(arguments: Store.tested) func aHostileOutputArchiveFailsItsRunnerAndWritesNothingOutside(store: Store) async throws {
        try await withHub(store, extra: ["--max-attempts", "2"]) { tree, url in
            try await queueJob(tree, name: "hostile_i0.tar.xz")
            // An archive whose entry climbs out of the output directory.
            let hostile = "\(tree.dir)/hostile.tar.xz"
            let (status, log) = try await runTool(["python3", "-c", """
                import io, lzma, tarfile, sys
                buffer = io.BytesIO()
                with tarfile.open(fileobj=buffer, mode="w") as tar:
                    data = b"owned\\n"
                    info = tarfile.TarInfo("../../escape.txt"); info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                open(sys.argv[1], "wb").write(lzma.compress(buffer.getvalue()))
                """, hostile])
            #expect(status == 0, "\(log)")
            // Each runner sends it; each is refused (422), counted against it, and the job goes on
            // to the next runner until --max-attempts runners failed it.
            for (name, attempt) in [("runner-a", 1), ("runner-b", 2)] {
                try await tree.withClient(name, url: url) { runner in
                    let claim = try #require(try await runner.claim())
                    #expect(claim.attempt == attempt)
                    try await runner.uploadOutput(claim.id, file: hostile)
                    let result = sampleResult(job: claim.job, status: .passed, exitCode: 0, finished: Date(), total: 1)
                    await #expect(throws: HubClientError.self) { _ = try await runner.sendResult(claim.id, result: try result.encoded()) }
                    // The hold is over: the same runner cannot send another result.
                    await #expect(throws: HubClientError.self) { _ = try await runner.sendResult(claim.id, result: try result.encoded()) }
                }
            }
            let done = try await waitForResult(tree, "hostile")
            #expect(done.status == .error)
            #expect(done.error?.contains("output of runner runner-b was refused") == true, "\(done.error ?? "")")
            #expect(done.error?.contains("2 runner(s) failed it") == true, "\(done.error ?? "")")
            for path in ["\(tree.dir)/escape.txt", "\(tree.done)/escape.txt", "\(tree.queue)/escape.txt", "\(tree.done)/hostile/escape.txt"] {
                #expect(!FileManager.default.fileExists(atPath: path), "\(path)")
            }
            let runners = try await tree.withClient("runner-a", url: url) { try await $0.status() }.runners
            #expect(runners.first { $0.name == "runner-a" }?.reputation.errors == 1)
            #expect(runners.first { $0.name == "runner-b" }?.reputation.errors == 1)
        }
    }

    /// An output archive of `files` (name → contents), made with the host's tar in `order`.
    func outputArchive(_ tree: HubTree, _ name: String, _ files: [(String, String)]) async throws -> String {
        let root = "\(tree.dir)/out-\(name)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for (file, contents) in files {
            try contents.write(toFile: "\(root)/\(file)", atomically: false, encoding: .utf8)
            // An explicit mode: libarchive, extracting in another test of this process, sets the
            // umask to 0 for a moment, and a mode is part of the digest replicas are compared by.
            chmod("\(root)/\(file)", 0o644)
        }
        let (status, log) = try await runTool(["tar", "-cJf", "\(root).tar.xz", "--sort=none", "-C", root] + files.map(\.0))
        guard status == 0 else { throw ConstruirTestError("tar: \(log)") }
        return "\(root).tar.xz"
    }

    /// Claims a job as `runner`, sends `archive` as its output and a passed result.
    func deliver(_ tree: HubTree, url: String, as runner: String, archive: String) async throws -> HubReceipt {
        try await tree.withClient(runner, url: url) { client in
            let claim = try #require(try await client.claim())
            try await client.uploadOutput(claim.id, file: archive)
            let result = sampleResult(job: claim.job, status: .passed, exitCode: 0, finished: Date(), total: 1)
            return try await client.sendResult(claim.id, result: try result.encoded())
        }
    }

    @Test(arguments: Store.tested) func replicasThatAgreeFinishTheJobAndOnesThatDoNotDisputeIt(store: Store) async throws {
        try await withHub(store, extra: ["--replicas", "2"]) { tree, url in
            try tree.addToken("runner-c", role: .runner)
            // Agreement: the same files, written in another order and at other times.
            try await queueJob(tree, name: "same_i0.tar.xz")
            let first = try await outputArchive(tree, "a", [("x.txt", "x"), ("y.txt", "y")])
            try await Task.sleep(for: .seconds(1.1))
            let second = try await outputArchive(tree, "b", [("y.txt", "y"), ("x.txt", "x")])
            #expect(try await deliver(tree, url: url, as: "runner-a", archive: first).location.contains("waiting for 1 more runner"))
            // runner-a never gets the second replica of its own job.
            #expect(try await tree.withClient("runner-a", url: url) { try await $0.claim() } == nil)
            #expect(try await deliver(tree, url: url, as: "runner-b", archive: second).status == .passed)
            let agreed = try readResult("\(tree.done)/same")
            #expect(agreed.status == .passed)
            #expect(agreed.quorum?.state == .agreed)
            #expect(agreed.quorum?.replicas.map(\.runnerID).sorted() == ["runner-a", "runner-b"])
            #expect(agreed.outputDigest?.count == 64)
            #expect(Set(agreed.quorum?.replicas.map(\.outputDigest) ?? []) == [agreed.outputDigest])
            #expect(try String(contentsOfFile: "\(tree.done)/same/output/x.txt", encoding: .utf8) == "x")
            for runner in ["runner-a", "runner-b"] {
                #expect(try readResult("\(tree.done)/same/replicas/\(runner)").runnerID == runner, "each replica's record stays")
                #expect(!FileManager.default.fileExists(atPath: "\(tree.done)/same/replicas/\(runner)/output"), "agreeing outputs are kept once")
            }

            // Disagreement: runner-c forges its output. Both outputs are kept; all are suspects.
            try await queueJob(tree, name: "forged_i0.tar.xz")
            let honest = try await outputArchive(tree, "c", [("x.txt", "x")])
            let forged = try await outputArchive(tree, "d", [("x.txt", "forged")])
            _ = try await deliver(tree, url: url, as: "runner-b", archive: honest)
            #expect(try await deliver(tree, url: url, as: "runner-c", archive: forged).status == .disputed)
            let disputed = try readResult("\(tree.done)/forged")
            #expect(disputed.status == .disputed)
            #expect(disputed.quorum?.state == .disputed)
            #expect(disputed.error?.contains("disagree") == true)
            #expect(try String(contentsOfFile: "\(tree.done)/forged/replicas/runner-b/output/x.txt", encoding: .utf8) == "x")
            #expect(try String(contentsOfFile: "\(tree.done)/forged/replicas/runner-c/output/x.txt", encoding: .utf8) == "forged")
            #expect(try readResult("\(tree.done)/forged/replicas/runner-c").runnerID == "runner-c")
            #expect(!FileManager.default.fileExists(atPath: "\(tree.done)/forged/output"))

            let runners = try await tree.withClient("runner-a", url: url) { try await $0.status() }.runners
            let reputation = Dictionary(uniqueKeysWithValues: runners.map { ($0.name, $0.reputation) })
            #expect(reputation["runner-a"].map { [$0.agreed, $0.disputed, $0.errors, $0.agreedInARow] } == [1, 0, 0, 1])
            #expect(reputation["runner-b"].map { [$0.agreed, $0.disputed, $0.errors, $0.agreedInARow] } == [1, 1, 0, 0])
            #expect(reputation["runner-c"].map { [$0.agreed, $0.disputed, $0.errors, $0.agreedInARow] } == [0, 1, 0, 0])
            let (_, metrics) = try await runTool(["curl", "-sf", url + "/metrics"])
            #expect(metrics.contains("construir_hub_runner_results_total{runner=\"runner-c\",outcome=\"disputed\"} 1"), "\(metrics)")
        }
    }

    @Test(arguments: Store.tested) func outputLargerThanTheJobAllowsIsRefused(store: Store) async throws {
        try await withHub(store, extra: ["--max-attempts", "1"]) { tree, url in
            try await queueJob(tree, name: "large_i0.tar.xz")
            try await tree.withClient("runner-a", url: url) { runner in
            let claim = try #require(try await runner.claim())
            // The hello job is 1 MiB, so its output may be 1 MiB: send 3.
            let large = "\(tree.dir)/large.bin"
            try Data(mixedBytes(3 << 20)).write(to: URL(fileURLWithPath: large))
            do {
                try await runner.uploadOutput(claim.id, file: large)
                Issue.record("a 3 MiB output was accepted")
            } catch let error as HubClientError {
                #expect(error.kind == .refused || error.kind == .unreachable, "\(error)")
            }
            let done = try await waitForResult(tree, "large")
            #expect(done.status == .error)
            #expect(done.error?.contains("sent more than the job allows") == true, "\(done.error ?? "")")
            #expect(!FileManager.default.fileExists(atPath: "\(tree.done)/large/output"))
            }
        }
    }

    @Test(arguments: Store.tested) func aLateUploadAfterTheLeaseRanOutIsRefusedAndTheJobGoesToTheNextRunner(store: Store) async throws {
        try await withHub(store, lease: "2s") { tree, url in
            try await queueJob(tree, name: "late_i0.tar.xz")
            try await tree.withClient("runner-a", url: url) { first in
            try await tree.withClient("runner-b", url: url) { second in
            let claim = try #require(try await first.claim())
            #expect(claim.attempt == 1)
            #expect(claim.leaseSeconds == 2)
            try await Task.sleep(for: .seconds(3))
            let result = sampleResult(job: claim.job, status: .passed, exitCode: 0, finished: Date(), total: 1)
            do {
                _ = try await first.sendResult(claim.id, result: try result.encoded())
                Issue.record("a late result was accepted")
            } catch let error as HubClientError {
                #expect(error.kind == .leaseLost, "\(error)")
            }
            #expect(tree.results().isEmpty)
            // The long poll says there is work again, and the next runner gets attempt 2.
            #expect(try await second.waitForWork(seconds: 5))
            let again = try #require(try await second.claim())
            #expect(again.id == claim.id)
            #expect(again.attempt == 2)
            await #expect(throws: HubClientError.self) { _ = try await first.heartbeat(claim.id) }
            _ = try await second.heartbeat(again.id)
            }
            }
        }
    }

    @Test(arguments: Store.tested) func aSubmittedJobIsQueuedOnlyWhenWholeAndValid(store: Store) async throws {
        try await withHub(store) { tree, url in
            try await tree.withClient("submitter", url: url) { submitter in
            let garbage = "\(tree.dir)/garbage.tar.xz"
            try Data(mixedBytes(4096)).write(to: URL(fileURLWithPath: garbage))
            await #expect(throws: HubClientError.self) { _ = try await submitter.submit(file: garbage, as: "garbage_i0.tar.xz") }
            await #expect(throws: HubClientError.self) { _ = try await submitter.submit(file: garbage, as: "../evil_i0.tar.xz") }
            #expect(FileManager.default.contentsOfDirectory(atPath: tree.queue, default: []).filter { !$0.hasPrefix(".construir-hub") }.isEmpty)
            let repository = VMSuites.RunnerIntegrationTests.repository
            let (status, log) = try await runTool(["\(repository)/jobs/make-job.sh", "\(repository)/jobs/hello", "\(tree.dir)/ok.packed"])
            #expect(status == 0, "\(log)")
            let receipt = try await submitter.submit(file: "\(tree.dir)/ok.packed", as: "ok_i0.tar.xz")
            #expect(receipt.job == "ok_i0.tar.xz")
            #expect(try await submitter.status().queued == 1, "the hub holds it, queued, in its own directory")
            await #expect(throws: HubClientError.self) { _ = try await submitter.submit(file: "\(tree.dir)/ok.packed", as: "ok_i0.tar.xz") }
            }
        }
    }

    /// Submits `name` as `submitter`, and has runner-a run it: a console of two lines, an
    /// output with x.txt and sub/y.txt, a passed result. Returns the job's id.
    private func submitAndFinish(_ tree: HubTree, url: String, as submitter: String, name: String, console text: String? = nil) async throws -> String {
        let repository = VMSuites.RunnerIntegrationTests.repository
        let packed = "\(tree.dir)/\(name).packed"
        let (status, log) = try await runTool(["\(repository)/jobs/make-job.sh", "\(repository)/jobs/hello", packed])
        guard status == 0 else { throw ConstruirTestError("make-job.sh: \(log)") }
        _ = try await tree.withClient(submitter, url: url) { try await $0.submit(file: packed, as: "\(name)_i0.tar.xz") }
        try FileManager.default.createDirectory(atPath: "\(tree.dir)/out-\(name)/sub", withIntermediateDirectories: true)
        let archive = try await outputArchive(tree, name, [("x.txt", "x of \(name)\n"), ("sub/y.txt", "y\n")])
        let console = "\(tree.dir)/\(name).console"
        try (text ?? "line one of \(name)\nline two\n").write(toFile: console, atomically: false, encoding: .utf8)
        return try await tree.withClient("runner-a", url: url) { runner in
            let claim = try #require(try await runner.claim())
            try await runner.uploadConsole(claim.id, file: console)
            try await runner.uploadOutput(claim.id, file: archive)
            let result = sampleResult(job: claim.job, status: .passed, exitCode: 0, finished: Date(), total: 1)
            _ = try await runner.sendResult(claim.id, result: try result.encoded())
            return claim.id
        }
    }

    @Test(arguments: Store.tested) func submittersReadOnlyTheirOwnJobs(store: Store) async throws {
        try await withHub(store) { tree, url in
            let mine = try await submitAndFinish(tree, url: url, as: "submitter", name: "mine")
            let theirs = try await submitAndFinish(tree, url: url, as: "submitter-b", name: "theirs")
            try await tree.withClient("submitter", url: url) { client in
                let page = try await client.jobs()
                #expect(page.jobs.map(\.id) == [mine] && page.next == nil)
                #expect(page.jobs.first?.state == .done && page.jobs.first?.status == .passed && page.jobs.first?.submitter == "submitter")
                #expect(page.jobs.first?.runners == ["runner-a"])
                #expect(try await client.jobs(submitter: "submitter-b").jobs.isEmpty, "another's jobs are not listed even when asked for")
                #expect(try await client.jobs(state: .queued).jobs.isEmpty)
                let detail = try await client.job(mine)
                #expect(detail.result?.submitter == "submitter" && detail.result?.status == .passed)
                let console = try await client.console(mine)
                #expect(String(decoding: console.bytes, as: UTF8.self) == "line one of mine\nline two\n" && console.state == .done)
                let tail = try await client.console(mine, from: 17)
                #expect(String(decoding: tail.bytes, as: UTF8.self) == "line two\n" && tail.size == 26)
                await #expect(throws: HubClientError.self) { _ = try await client.console(mine, from: 27) }
                try await client.downloadOutput(mine, path: "sub/y.txt", to: "\(tree.dir)/y.txt")
                #expect(try String(contentsOfFile: "\(tree.dir)/y.txt", encoding: .utf8) == "y\n")
                try await client.downloadOutput(mine, to: "\(tree.dir)/mine.tar.xz")
                #expect(FileSystem.exists("\(tree.dir)/mine.tar.xz"))
                for path in ["../result.json", "/etc/passwd", "sub/../x.txt", "sub", "nope.txt"] {
                    await #expect(throws: HubClientError.self, "\(path)") { try await client.downloadOutput(mine, path: path, to: "\(tree.dir)/z") }
                }
                // Another submitter's job does not exist, whichever way it is asked for.
                for call in [{ _ = try await client.job(theirs) }, { _ = try await client.console(theirs) },
                             { try await client.downloadOutput(theirs, to: "\(tree.dir)/theirs") }] as [() async throws -> Void] {
                    do {
                        try await call()
                        Issue.record("another submitter's job was served")
                    } catch let error as HubClientError {
                        #expect(error.status == 404, "\(error)")
                    }
                }
            }
            // Runner tokens read no jobs; nobody without a token does on a private hub.
            #expect(try await statusCode(.GET, url + HubPaths.jobs, authorization: "Bearer \(try tree.secret("runner-a"))") == 403)
            #expect(try await statusCode(.GET, url + HubPaths.jobs, authorization: nil) == 401)
            #expect(try await statusCode(.GET, url + "\(HubPaths.jobs)/\(mine)", authorization: nil) == 401)
        }
    }

    /// Submits the hello job as `submitter` under `name`; returns its id (from the listing).
    private func submit(_ tree: HubTree, url: String, as submitter: String, name: String) async throws -> String {
        let repository = VMSuites.RunnerIntegrationTests.repository
        let packed = "\(tree.dir)/\(name).packed"
        let (status, log) = try await runTool(["\(repository)/jobs/make-job.sh", "\(repository)/jobs/hello", packed])
        guard status == 0 else { throw ConstruirTestError("make-job.sh: \(log)") }
        return try await tree.withClient(submitter, url: url) { client in
            _ = try await client.submit(file: packed, as: "\(name)_i0.tar.xz")
            return try #require(try await client.jobs(prefix: "\(name)_").jobs.first?.id)
        }
    }

    @Test(arguments: Store.tested) func aStoppedJobEndsKilledWhereverItIs(store: Store) async throws {
        try await withHub(store, lease: "3s") { tree, url in
            // Queued: it ends at once, and no runner ever gets it.
            let queued = try await submit(tree, url: url, as: "submitter", name: "queued")
            let stopped = try await tree.withClient("submitter", url: url) { try await $0.stop(queued) }
            #expect(stopped.state == .done && stopped.status == .killed && stopped.attempts == 0)
            #expect(try await tree.withClient("runner-a", url: url) { try await $0.claim() } == nil)
            #expect(try await waitForResult(tree, "queued").status == .killed)
            await #expect(throws: HubClientError.self, "an ended job cannot be stopped") {
                _ = try await tree.withClient("submitter", url: url) { try await $0.stop(queued) }
            }

            // Held: its runner learns it from its heartbeat, and what it sends ends the job killed.
            let held = try await submit(tree, url: url, as: "submitter", name: "held")
            try await tree.withClient("runner-a", url: url) { runner in
                let claim = try #require(try await runner.claim())
                #expect(try await runner.heartbeat(claim.id).stop == nil)
                do {
                    _ = try await tree.withClient("submitter-b", url: url) { try await $0.stop(held) }
                    Issue.record("another submitter stopped the job")
                } catch let error as HubClientError {
                    #expect(error.status == 404)
                }
                let stopping = try await tree.withClient("submitter", url: url) { try await $0.stop(held) }
                #expect(stopping.state == .running && stopping.stopping == true)
                #expect(try await runner.heartbeat(claim.id).stop == true)
                var result = sampleResult(job: claim.job, status: .killed, exitCode: nil, finished: Date(), total: 1)
                result.error = "killed"
                _ = try await runner.sendResult(claim.id, result: try result.encoded())
            }
            let detail = try await tree.withClient("submitter", url: url) { try await $0.job(held) }
            #expect(detail.job.state == .done && detail.job.status == .killed && detail.job.stopping == nil)
            #expect(detail.result?.status == .killed && detail.result?.runnerId == "runner-a")

            // Held by a runner that never answers: it ends killed when the lease runs out.
            let silent = try await submit(tree, url: url, as: "submitter", name: "silent")
            let claim = try await tree.withClient("runner-a", url: url) { try #require(try await $0.claim()) }
            _ = try await tree.withClient("submitter", url: url) { try await $0.stop(silent) }
            let result = try await waitForResult(tree, "silent")
            #expect(result.status == .killed && result.attempt == 1, "\(result)")
            #expect(try await tree.withClient("runner-b", url: url) { try await $0.claim() } == nil, "it is not handed out again")
            await #expect(throws: HubClientError.self) { _ = try await tree.withClient("runner-a", url: url) { try await $0.heartbeat(claim.id) } }
        }
    }

    @Test(arguments: Store.tested) func aRunningJobsConsoleIsAppendedAndFollowed(store: Store) async throws {
        try await withHub(store, extra: ["--max-console", "10"]) { tree, url in
            let id = try await submit(tree, url: url, as: "submitter", name: "live")
            try await tree.withClient("runner-a", url: url) { runner in
                let claim = try #require(try await runner.claim())
                #expect(claim.id == id)
                try await tree.withClient("submitter", url: url) { submitter in
                    let empty = try await submitter.console(id)
                    #expect(empty.bytes.isEmpty && empty.size == 0 && empty.state == .running)
                    #expect(try await runner.appendConsole(id, offset: 0, bytes: Array("abc".utf8)[...]).size == 3)
                    #expect(try await runner.appendConsole(id, offset: 5, bytes: Array("zz".utf8)[...]).size == 3, "a gap is not taken")
                    #expect(try await runner.appendConsole(id, offset: 1, bytes: Array("bcd".utf8)[...]).size == 4, "a retry overlaps")
                    let now = try await submitter.console(id)
                    #expect(String(decoding: now.bytes, as: UTF8.self) == "abcd" && now.state == .running)
                    #expect(String(decoding: try await submitter.console(id, from: 2).bytes, as: UTF8.self) == "cd")
                    // A follower waiting for more gets it when it comes.
                    async let waited = submitter.console(id, from: 4, wait: 10)
                    try await Task.sleep(for: .milliseconds(300))
                    _ = try await runner.appendConsole(id, offset: 4, bytes: Array("e".utf8)[...])
                    #expect(String(decoding: try await waited.bytes, as: UTF8.self) == "e")
                    // Past --max-console: what fits is kept, the hold goes on.
                    do {
                        _ = try await runner.appendConsole(id, offset: 5, bytes: Array("0123456789".utf8)[...])
                        Issue.record("an append past --max-console was taken whole")
                    } catch let error as HubClientError {
                        #expect(error.status == 413)
                    }
                    #expect(try await submitter.console(id).size == 10)
                    #expect(try await runner.heartbeat(claim.id).stop == nil, "the hold goes on")
                    _ = try await submitter.stop(id)
                    #expect(try await runner.appendConsole(id, offset: 10, bytes: []).stop == true, "an append's answer says the job was stopped")
                }
            }
        }
    }

    /// A job ended in the store but not yet in done/ (here done/ refuses it for a while) is
    /// still running to a reader: a follower is never told `done` before the result and the
    /// whole console can be read (a `package --follow` once printed nothing of a job that
    /// ended in that moment).
    @Test func aFinishedJobIsDoneToReadersOnlyOnceInDone() async throws {
        try await withHub(.sqlite) { tree, url in
            let away = "\(tree.dir)/done.away"
            try FileManager.default.moveItem(atPath: tree.done, toPath: away)
            try "not a directory".write(toFile: tree.done, atomically: false, encoding: .utf8)
            let id = try await submitAndFinish(tree, url: url, as: "submitter", name: "late", console: "every line\n")
            try await tree.withClient("submitter", url: url) { submitter in
                let console = try await submitter.console(id)
                #expect(String(decoding: console.bytes, as: UTF8.self) == "every line\n" && console.state == .running, "\(console)")
                #expect(try await submitter.job(id).job.state == .running)
                async let followed = submitter.console(id, from: console.size, wait: 20)
                try FileManager.default.removeItem(atPath: tree.done)
                try FileManager.default.moveItem(atPath: away, toPath: tree.done)
                let end = try await followed
                #expect(end.bytes.isEmpty && end.state == .done, "\(end)")
                let detail = try await submitter.job(id)
                #expect(detail.job.state == .done && detail.result?.status == .passed, "\(detail)")
                #expect(String(decoding: try await submitter.console(id).bytes, as: UTF8.self) == "every line\n")
            }
        }
    }

    @Test func aSubmitterWithTooManyJobsWaitingIsToldToWait() async throws {
        try await withHub(lease: "20s", extra: ["--max-queued-per-submitter", "1"]) { tree, url in
            _ = try await submit(tree, url: url, as: "submitter", name: "first")
            do {
                _ = try await submit(tree, url: url, as: "submitter", name: "second")
                Issue.record("a second job was taken")
            } catch let error as HubClientError {
                #expect(error.status == 429 && error.message.contains("waiting"), "\(error)")
            }
            // A large upload refused before the hub reads it still gets its reason, not only
            // its status: the hub reads what the client sends before it answers.
            let large = "\(tree.dir)/large.tar.xz"
            #expect(FileManager.default.createFile(atPath: large, contents: Data((0..<(24 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) })))
            let refused = await #expect(throws: HubClientError.self) {
                try await tree.withClient("submitter", url: url) { try await $0.submit(file: large, as: "large_i0.tar.xz") }
            }
            #expect(refused?.status == 429 && refused?.message.contains("waiting") == true, "\(String(describing: refused))")
            _ = try await submit(tree, url: url, as: "submitter-b", name: "other")
            _ = try await tree.withClient("runner-a", url: url) { try await $0.claim() }
            _ = try await submit(tree, url: url, as: "submitter", name: "second")
        }
    }

    /// A webhook secret file, mode 0600.
    private func webhookSecret(_ tree: HubTree) throws -> (path: String, secret: String) {
        let path = "\(tree.dir)/webhook.secret"
        try "s3cret-for-the-hook\n".write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o600)
        return (path, "s3cret-for-the-hook")
    }

    /// Checks an accepted event: signed with `secret`, about job `id`, as a HubJobEvent says.
    private func checkEvent(_ received: WebhookReceiver.Received, secret: String, id: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = "sha256=" + HMAC<SHA256>.authenticationCode(for: received.body, using: SymmetricKey(data: Data(secret.utf8)))
            .map { String(format: "%02x", $0) }.joined()
        #expect(received.headers["x-construir-signature"] == expected, sourceLocation: sourceLocation)
        let event = try HubJSON.decode(HubJobEventDocument.self, from: received.body)
        #expect(event.id == id && event.event == "job.finished" && event.status == "passed" && event.submitter == "submitter",
                "\(String(decoding: received.body, as: UTF8.self))", sourceLocation: sourceLocation)
        #expect(event.url == "https://hub.example.org/api/v1/jobs/\(id)", sourceLocation: sourceLocation)
    }

    /// The fields of an event this test reads, as a receiver would decode them.
    struct HubJobEventDocument: Decodable {
        var event: String
        var id: String
        var status: String
        var submitter: String?
        var url: String?
    }

    @Test(arguments: Store.tested) func finishedJobsAreAnnouncedSignedAndRetried(store: Store) async throws {
        let receiver = WebhookReceiver(failures: 2)
        try await receiver.serve { port in
            try await HubTree.with { tree in
                let (secretFile, secret) = try self.webhookSecret(tree)
                let hook = ["--webhook", "http://127.0.0.1:\(port)/hook", "--webhook-secret-file", secretFile, "--public-url", "https://hub.example.org/"]
                try await self.withHub(store, extra: hook) { tree, url in
                    let id = try await self.submitAndFinish(tree, url: url, as: "submitter", name: "announced")
                    let accepted = try #require(try await receiver.accepted(within: .seconds(30)))
                    try self.checkEvent(accepted, secret: secret, id: id)
                    let tries = receiver.received.withLock { $0 }
                    #expect(tries.map(\.status) == [500, 500, 200], "answered 500 twice, tried again until 200")
                    #expect(Set(tries.compactMap { $0.headers["x-construir-delivery"] }).count == 1, "one event, one delivery id")
                }
            }
        }
    }

    @Test func anEventAHubCouldNotSendIsSentAfterItsRestart() async throws {
        // A port nothing listens on yet: the receiver comes up only after the hub was killed.
        let port = try await WebhookReceiver().serve { $0 }
        try await HubTree.with { tree in
            let dir = tree.dir
            try tree.addToken("runner-a", role: .runner)
            try tree.addToken("submitter", role: .submitter)
            let (secretFile, secret) = try webhookSecret(tree)
            let hook = ["--webhook", "http://127.0.0.1:\(port)/hook", "--webhook-secret-file", secretFile, "--public-url", "https://hub.example.org"]
            let (hub, url) = try await tree.startHub(lease: "20s", extra: hook, log: "\(dir)/hub.log")
            let id = try await submitAndFinish(tree, url: url, as: "submitter", name: "later")
            hub.signal(SIGKILL)
            _ = await hub.wait(timeout: .seconds(10))
            let receiver = WebhookReceiver()
            try await receiver.serve(port: port) { _ in
                let (restarted, _) = try await tree.startHub(lease: "20s", extra: hook, log: "\(dir)/hub2.log")
                let accepted = try await receiver.accepted(within: .seconds(30))
                await tree.stop([restarted])
                try self.checkEvent(try #require(accepted, "\(restarted.log)"), secret: secret, id: id)
            }
        }
    }

    @Test func oldJobsLeaveDoneButTheirRecordsStay() async throws {
        // --keep-days 0.0001 is 8.6 s: a job finished now is removed within about that.
        try await withHub(lease: "20s", extra: ["--keep-days", "0.0001"]) { tree, url in
            let id = try await submitAndFinish(tree, url: url, as: "submitter", name: "brief")
            #expect(FileManager.default.fileExists(atPath: "\(tree.done)/brief"))
            let deadline = ContinuousClock.now + .seconds(30)
            while FileManager.default.fileExists(atPath: "\(tree.done)/brief"), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(!FileManager.default.fileExists(atPath: "\(tree.done)/brief"), "removed by --keep-days")
            try await tree.withClient("submitter", url: url) { client in
                let job = try await client.job(id)
                #expect(job.job.status == .passed && job.result == nil, "the record stays, the files are gone")
                do {
                    _ = try await client.console(id)
                    Issue.record("a removed job's console was served")
                } catch let error as HubClientError {
                    #expect(error.status == 404 && error.message.contains("removed"), "\(error)")
                }
            }
        }
    }

    /// A client that, like a test looking at answers, does not follow redirects.
    private static let browser: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// One page request: its status, headers and body as text.
    private func page(_ method: HTTPMethod, _ url: String, cookie: String? = nil, form: [String: String]? = nil)
        async throws -> (status: UInt, headers: HTTPHeaders, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        if let form {
            var components = URLComponents()
            components.queryItems = form.map { URLQueryItem(name: $0.key, value: $0.value) }
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: components.percentEncodedQuery ?? ""))
        }
        let response = try await Self.browser.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 8 << 20)
        return (response.status.code, response.headers, String(buffer: body))
    }

    /// The session cookie a login with `token`'s secret sets.
    private func logIn(_ tree: HubTree, url: String, as token: String) async throws -> String {
        let answer = try await page(.POST, url + "/login", form: ["token": try tree.secret(token)])
        #expect(answer.status == 303)
        let cookie = try #require(answer.headers.first(name: "Set-Cookie"))
        #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("Secure"), "\(cookie)")
        return String(cookie.split(separator: ";")[0])
    }

    /// The CSRF token of the page's forms.
    private func csrf(_ html: String) throws -> String {
        let range = try #require(html.range(of: #"name="csrf" value="[0-9a-f]{64}""#, options: .regularExpression))
        return String(html[range].dropFirst(#"name="csrf" value=""#.count).dropLast())
    }

    @Test func thePagesShowASubmittersJobsOnceLoggedIn() async throws {
        try await withHub(lease: "20s", extra: []) { tree, url in
            let id = try await submitAndFinish(tree, url: url, as: "submitter", name: "paged", console: "hello <script>alert(1)</script>\n")
            #expect(try await page(.GET, url + "/jobs").status == 303, "no session: to the login page")
            #expect(try await page(.POST, url + "/login", form: ["token": "construir_wrong"]).status == 401)
            #expect(try await page(.POST, url + "/login", form: ["token": try tree.secret("runner-a")]).status == 401, "a runner token reads no jobs")
            let cookie = try await logIn(tree, url: url, as: "submitter")
            let list = try await page(.GET, url + "/jobs", cookie: cookie)
            #expect(list.status == 200 && list.body.contains("/jobs/\(id)") && list.body.contains("paged_i0.tar.xz"), "\(list.body)")
            #expect(list.headers.first(name: "Content-Security-Policy")?.contains("default-src 'none'") == true)
            let job = try await page(.GET, url + "/jobs/\(id)", cookie: cookie)
            #expect(job.status == 200 && job.body.contains("passed") && job.body.contains("runner-a"))
            #expect(job.body.contains("hello &lt;script&gt;alert(1)&lt;/script&gt;") && !job.body.contains("<script"), "the console is text")
            #expect(job.body.contains("/jobs/\(id)/file/sub/y.txt"))
            let file = try await page(.GET, url + "/jobs/\(id)/file/sub/y.txt", cookie: cookie)
            #expect(file.status == 200 && file.body == "y\n" && file.headers.first(name: "Content-Disposition")?.hasPrefix("attachment") == true)
            #expect(try await page(.GET, url + "/jobs/\(id)/file/../result.json", cookie: cookie).status != 200)
            // Another submitter sees none of it.
            let other = try await logIn(tree, url: url, as: "submitter-b")
            #expect(try await page(.GET, url + "/jobs/\(id)", cookie: other).status == 404)
            #expect(!(try await page(.GET, url + "/jobs", cookie: other).body.contains(id)))
            // Stopping takes the session's CSRF token: a forged form is refused.
            let queued = try await submit(tree, url: url, as: "submitter", name: "waiting")
            #expect(try await page(.POST, url + "/jobs/\(queued)/stop", cookie: cookie, form: ["csrf": String(repeating: "0", count: 64)]).status == 403)
            let token = try csrf(list.body)
            #expect(try await page(.POST, url + "/jobs/\(queued)/stop", cookie: cookie, form: ["csrf": token]).status == 303)
            #expect(try await page(.GET, url + "/jobs/\(queued)", cookie: cookie).body.contains("killed"))
            // Logging out ends the session.
            #expect(try await page(.POST, url + "/logout", cookie: cookie, form: ["csrf": token]).status == 303)
            #expect(try await page(.GET, url + "/jobs", cookie: cookie).status == 303)
        }
    }

    @Test(.enabled(if: chromiumPath != nil, "chromium is not installed: apt-get install chromium (scripts/install-deps installs it)"))
    func thePagesLoadInABrowserAndShowMarkupAsText() async throws {
        let chromium = try #require(chromiumPath)
        try await withHub(lease: "20s", extra: ["--results", "public"]) { tree, url in
            let id = try await submitAndFinish(tree, url: url, as: "submitter", name: "shown", console: "a <script>alert(1)</script> b\n")
            let profile = "\(tree.dir)/chromium"
            let list = try await dumpDOM(chromium, "\(url)/jobs", profile: profile)
            #expect(list.contains("shown_i0.tar.xz") && list.contains("/jobs/\(id)"), "\(list)")
            let job = try await dumpDOM(chromium, "\(url)/jobs/\(id)", profile: profile)
            #expect(job.contains("a &lt;script&gt;alert(1)&lt;/script&gt; b"), "the console is text in the DOM: \(job)")
            #expect(!job.contains("<script"), "no script element came to be")
            #expect(job.contains("/jobs/\(id)/file/x.txt"))
            let log = (try? String(contentsOfFile: "\(profile).log", encoding: .utf8)) ?? ""
            #expect(!log.contains(":CONSOLE"), "no console message (an error, a CSP violation) on the pages: \(log.suffix(2000))")
        }
    }

    /// Runs `plan` in headless Chromium (Tests/Browser/browse.py): each step's result, and every
    /// console message, log entry and exception the pages caused.
    private func browse(_ plan: [[String: Any]], in dir: String) async throws -> (results: [Any], console: [[String: Any]]) {
        let chromium = try #require(chromiumPath)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Browser/browse.py").path
        let planFile = "\(dir)/plan.json"
        try JSONSerialization.data(withJSONObject: plan).write(to: URL(fileURLWithPath: planFile))
        try FileManager.default.createDirectory(atPath: "\(dir)/downloads", withIntermediateDirectories: true)
        let (status, output) = try await runTool(["sh", "-c", "exec python3 \"$0\" \"$1\" \"$2\" \"$3\" < \"$4\"", script, chromium,
                                                  "\(dir)/chromium", "\(dir)/downloads", planFile])
        guard status == 0, let line = output.split(separator: "\n").last,
              let answer = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            throw ConstruirTestError("browse.py: \(output)")
        }
        return (answer["results"] as? [Any] ?? [], answer["console"] as? [[String: Any]] ?? [])
    }

    @Test(.enabled(if: chromiumPath != nil, "chromium is not installed: apt-get install chromium (scripts/install-deps installs it)"))
    func aSubmitterUsesThePagesInABrowser() async throws {
        try await withHub(lease: "60s", extra: []) { tree, url in
            let done = try await submitAndFinish(tree, url: url, as: "submitter", name: "shown", console: "a <script>alert(1)</script> b\n")
            let running = try await submit(tree, url: url, as: "submitter", name: "running")
            let waiting = try await submit(tree, url: url, as: "submitter", name: "waiting")
            // "running" is held by runner-a, which appends to its console while the page is open.
            let claim = try await tree.withClient("runner-a", url: url) { try #require(try await $0.claim()) }
            #expect(claim.id == running)
            _ = try await tree.withClient("runner-a", url: url) { try await $0.appendConsole(running, offset: 0, bytes: Array("first line\n".utf8)[...]) }
            let secret = try tree.secret("submitter")
            let appender = Task {
                try await Task.sleep(for: .seconds(4))
                _ = try await tree.withClient("runner-a", url: url) { try await $0.appendConsole(running, offset: 11, bytes: Array("second line\n".utf8)[...]) }
            }
            let plan: [[String: Any]] = [
                ["go": "\(url)/jobs"],
                ["text": true],                                                              // 1: not logged in
                ["go": "\(url)/login"],
                ["submit": "document.querySelector('input[name=token]').value = '\(secret)'; document.querySelector('form[action=\"/login\"]').submit()"],
                ["text": true],                                                              // 4: the list
                ["go": "\(url)/jobs/\(done)"],
                ["text": true],                                                              // 6: a done job
                ["download": "\(url)/jobs/\(done)/file/sub/y.txt"],                          // 7: its file
                ["go": "\(url)/jobs/\(running)"],
                ["wait_for_text": "second line", "timeout": 30],                              // 9: the console grows
                ["go": "\(url)/jobs/\(waiting)"],
                ["submit": "document.querySelector('form[action$=\"/stop\"]').submit()"],
                ["text": true],                                                              // 12: stopped
            ]
            let (results, console) = try await browse(plan, in: tree.dir)
            try await appender.value
            #expect((results[1] as? String)?.contains("Log in") == true, "\(results[1])")
            let list = results[4] as? String ?? ""
            #expect(list.contains("shown_i0.tar.xz") && list.contains("running_i0.tar.xz") && list.contains("waiting_i0.tar.xz"), "\(list)")
            let page = results[6] as? String ?? ""
            #expect(page.contains("a <script>alert(1)</script> b") && page.contains("passed") && page.contains("runner-a"), "markup is text: \(page)")
            #expect((results[7] as? String) == "y.txt")
            #expect(try String(contentsOfFile: "\(tree.dir)/downloads/y.txt", encoding: .utf8) == "y\n")
            let growing = results[9] as? String ?? ""
            #expect(growing.contains("first line") && growing.contains("second line"), "the page followed the console: \(growing)")
            #expect((results[12] as? String)?.contains("killed") == true, "\(results[12])")
            #expect(console.isEmpty, "no console message, CSP violation or exception: \(console)")
        }
    }

    @Test func publicResultsAreReadWithoutAToken() async throws {
        try await withHub(lease: "20s", extra: ["--results", "public"]) { tree, url in
            let mine = try await submitAndFinish(tree, url: url, as: "submitter", name: "mine")
            #expect(try await statusCode(.GET, url + HubPaths.jobs, authorization: nil) == 200)
            #expect(try await statusCode(.GET, url + "\(HubPaths.jobs)/\(mine)", authorization: nil) == 200)
            #expect(try await statusCode(.GET, url + "\(HubPaths.jobs)/\(mine)/console", authorization: nil) == 200)
            #expect(try await statusCode(.GET, url + "\(HubPaths.jobs)/\(mine)/output?path=x.txt", authorization: nil) == 200)
            #expect(try await statusCode(.GET, url + HubPaths.jobs, authorization: "Bearer construir_wrong") == 401, "a token sent is checked")
            #expect(try await statusCode(.GET, url + HubPaths.jobs, authorization: "Bearer \(try tree.secret("runner-a"))") == 403)
            #expect(try await statusCode(.POST, url + "\(HubPaths.jobs)/\(mine)/stop", authorization: nil) == 401, "public results are read, not stopped")
            #expect(try await statusCode(.POST, url + "\(HubPaths.jobs)/\(mine)/stop", authorization: "Bearer \(try tree.secret("submitter-b"))") == 404)
        }
    }

    @Test func theHubServesHTTPSThatRunnersVerifyAgainstTheirCA() async throws {
        try await HubTree.with { tree in
            let dir = tree.dir
            try tree.addToken("submitter", role: .submitter)
            // A CA, and a certificate for 127.0.0.1 signed by it.
            for command in [
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                 "-subj", "/CN=construir test CA"],
                ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "hub.key", "-out", "hub.csr", "-subj", "/CN=127.0.0.1"],
            ] {
                let (status, log) = try await runTool(command, in: dir)
                #expect(status == 0, "\(log)")
            }
            try "subjectAltName=IP:127.0.0.1\n".write(toFile: "\(dir)/san.ext", atomically: true, encoding: .utf8)
            let (status, log) = try await runTool(["openssl", "x509", "-req", "-in", "hub.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                                                   "-CAcreateserial", "-out", "hub.pem", "-days", "2", "-extfile", "san.ext"], in: dir)
            #expect(status == 0, "\(log)")
            let (hub, url) = try await tree.startHub(lease: "20s", extra: ["--tls-cert", "\(dir)/hub.pem", "--tls-key", "\(dir)/hub.key"],
                                                    log: "\(dir)/hub.log")
            #expect(url.hasPrefix("https://"))
            let status200 = try await tree.withClient("submitter", url: url, caFile: "\(dir)/ca.pem") { try await $0.status() }
            #expect(status200.queued == 0)
            // Without the CA, the system's trust store does not know the hub's certificate.
            do {
                _ = try await tree.withClient("submitter", url: url) { try await $0.status() }
                Issue.record("a certificate from an unknown CA was accepted")
            } catch let error as HubClientError {
                #expect(error.kind == .unreachable, "\(error)")
            }
            // Plain HTTP to the TLS port gets no answer a client would take.
            let plain = url.replacingOccurrences(of: "https://", with: "http://")
            await #expect(throws: HubClientError.self) { _ = try await tree.withClient("submitter", url: plain) { try await $0.status() } }
            await tree.stop([hub])
        }
    }

    @Test func aStoppingHubEndsItsOpenLongPollsAndExitsWithoutWaitingForThem() async throws {
        try await HubTree.with { tree in
            let dir = tree.dir
            try tree.addToken("runner-a", role: .runner)
            let (hub, url) = try await tree.startHub(lease: "20s", log: "\(dir)/hub.log")
            try await tree.withClient("runner-a", url: url) { runner in
                // A poll that would wait a minute for work that never comes.
                let poll = Task { try await runner.waitForWork(seconds: 60) }
                var waiting = ""
                for _ in 0..<100 {
                    waiting = try await runTool(["curl", "-sf", url + "/metrics"]).output
                    if waiting.contains("construir_hub_waiting_polls 1") { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(waiting.contains("construir_hub_waiting_polls 1"), "\(waiting)")
                hub.signal(SIGTERM)
                // Well inside the poll's minute: the hub ends the poll (no work) and exits.
                let exit = await hub.wait(timeout: .seconds(20))
                #expect(exit?.status == 0, "\(hub.log)")
                #expect(try await poll.value == false)
            }
        }
    }

    @Test func plainHTTPIsRefusedAwayFromLoopbackUnlessAsked() async throws {
        try await HubTree.with { tree in
            let dir = tree.dir
            try FileManager.default.createDirectory(atPath: tree.queue, withIntermediateDirectories: true)
            let hub = try RunnerProcess(["--listen", "0.0.0.0:0", "--queue", tree.queue, "--done", tree.done, "--tokens", tree.tokens],
                                        command: ["hub", "serve"], log: "\(dir)/hub.log")
            let exit = await hub.wait(timeout: .seconds(30))
            #expect(exit != nil && exit?.status != 0)
            #expect(hub.log.contains("clear text"), "\(hub.log)")
            #expect(throws: (any Error).self) { try HubClient(url: "http://192.0.2.1:8443", token: "construir_x") }
            let insecure = try HubClient(url: "http://192.0.2.1:8443", token: "construir_x", allowInsecureHTTP: true)
            await insecure.shutdown()
        }
    }

    @Test func twoPullRunnersCannotShareAStateDirectory() async throws {
        try await withTemporaryDirectory { dir in
            // The second would take the first's running jobs for a dead runner's and give them back.
            let client = try HubClient(url: "http://127.0.0.1:9", token: "construir_x")
            let logger = Logger(label: "test")
            let first = try HubJobSource(client: client, stateDirectory: "\(dir)/state", logger: logger)
            #expect(throws: ConstruirError.self) { try HubJobSource(client: client, stateDirectory: "\(dir)/state", logger: logger) }
            #expect(first.runningDirectory == "\(dir)/state/running")
            let other = try HubJobSource(client: client, stateDirectory: "\(dir)/state-2", logger: logger)
            #expect(other.runningDirectory == "\(dir)/state-2/running")
            await client.shutdown()
        }
    }
}
