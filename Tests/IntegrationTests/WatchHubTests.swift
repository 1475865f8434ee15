import Foundation
import HubAPI
import HubClient
import Testing
import TestSupport

/// `construir watch --hub` on the real binaries: a hub on loopback takes each commit once, also
/// when the watcher is killed right after an upload the hub took, before it recorded the id;
/// once a runner finished the jobs, their final statuses are reported with the hub's pages.
@Suite(.serialized, .timeLimit(.minutes(5))) struct WatchHubTests {
    @Test func eachCommitReachesTheHubOnceAcrossACrash() async throws {
        try await HubTree.with { tree in
            try tree.addToken("submitter", role: .submitter)
            try tree.addToken("runner-a", role: .runner)
            let (hub, url) = try await tree.startHub(lease: "20s", log: "\(tree.dir)/hub.log")
            defer { hub.signal(SIGKILL) }
            let work = "\(tree.dir)/app"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            try await gitForTests(["init", "-q"], in: work)
            try "#!/bin/sh\necho hi\n".write(toFile: "\(work)/construir", atomically: true, encoding: .utf8)
            chmod("\(work)/construir", 0o755)
            try await gitForTests(["add", "-A"], in: work)
            try await gitForTests(["commit", "-q", "-m", "one"], in: work)
            let reposFile = "\(tree.dir)/repos.yml", reports = "\(tree.dir)/reports.log"
            try """
                repositories:
                  - url: \(work)
                    branches: main
                    report: {command: 'echo "$CONSTRUIR_STATUS $CONSTRUIR_URL" >> \(reports)'}
                """.write(toFile: reposFile, atomically: true, encoding: .utf8)
            let watch = ["--once", "--repos", reposFile, "--hub", url, "--token-file", tree.tokenFile("submitter"),
                         "--state", "\(tree.dir)/watch-state"]
            #expect(await Self.watch(watch, log: "\(tree.dir)/watch1.log") == 0)

            try await gitForTests(["commit", "-q", "--allow-empty", "-m", "two"], in: work)
            let killed = await Self.watch(watch, environment: ["CONSTRUIR_CRASH_AT": "watch-submitted"], log: "\(tree.dir)/watch2.log")
            #expect(killed == SIGKILL)
            #expect(await Self.watch(watch, log: "\(tree.dir)/watch3.log") == 0)
            let restart = try String(contentsOfFile: "\(tree.dir)/watch3.log", encoding: .utf8)
            #expect(restart.contains("finishing a hand-over an earlier run began"), "\(restart)")
            #expect(await Self.watch(watch, log: "\(tree.dir)/watch4.log") == 0)

            let jobs = try await tree.withClient("submitter", url: url) { try await $0.jobs().jobs }
            #expect(jobs.count == 2, "\(jobs.map(\.job))")
            #expect(Set(jobs.map(\.job)).count == jobs.count)
            let lines = try String(contentsOfFile: reports, encoding: .utf8).split(separator: "\n")
            #expect(lines.count == 2 && lines.allSatisfy { $0.hasPrefix("pending \(url)/jobs/") }, "\(lines)")

            // The test as the runner: both jobs pass; the next poll reports each, with its page.
            let runner = HubProtocolTests()
            let archive = try await runner.outputArchive(tree, "out", [("job_output.txt", "hi\n")])
            for _ in jobs { _ = try await runner.deliver(tree, url: url, as: "runner-a", archive: archive) }
            #expect(await Self.watch(watch, log: "\(tree.dir)/watch5.log") == 0)
            let finals = try String(contentsOfFile: reports, encoding: .utf8).split(separator: "\n").dropFirst(2)
            #expect(Set(finals) == Set(jobs.map { "passed \(url)/jobs/\($0.id)" }), "\(finals)")
        }
    }

    /// Runs `construir watch ARGUMENTS` to its end; its exit status (the signal if killed).
    static func watch(_ arguments: [String], environment: [String: String] = [:], log: String) async -> Int32? {
        guard let process = try? RunnerProcess(arguments, command: ["watch"], environment: environment, log: log) else { return nil }
        return await process.wait(timeout: .seconds(120))?.status
    }
}
