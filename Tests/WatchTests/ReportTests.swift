import ConstruirSystem
import Foundation
import JobModel
import Testing
import TestSupport
import Watch

/// Reports of queued jobs to a forge receiver on loopback and to a command; the job's end is
/// a result.json published into done/ as a runner publishes it (`WatchRunnerReportTests` in
/// the integration tests has a real runner make it).
@Suite struct ReportTests {
    @Test func aForgeGetsPendingThenTheFinalStatusWithTheLink() async throws {
        try await WatchFixture.with { fixture, http in
            let repo = try await fixture.repository("team/app")
            let commit = try await repo.commit("one", RepositoryWatchTests.script)
            try await repo.push("main")
            let token = "\(fixture.directory)/forge-token"
            try "tok-123\n".write(toFile: token, atomically: true, encoding: .utf8)
            chmod(token, 0o600)
            let receiver = ForgeReceiver(failures: 1)
            let statuses = try await receiver.serve { api in
                let text = """
                    repositories:
                      - url: \(fixture.server.url("team/app"))
                        branches: main
                        report: {forge: forgejo, api: '\(api)', token_file: \(token)}
                    """
                let repository = try WatchConfiguration.parse(text, file: "repos.yml", base: fixture.directory).repositories[0]
                let watch = try fixture.watch(repository, http: http)
                await watch.poll()
                // The forge fails the first attempt: the report is retried, not lost.
                try await Self.sendUntil(watch) { receiver.statuses.count == 1 }
                let job = jobFile("app", commit)
                let result = sampleResult(job: job, status: .passed, exitCode: 0, finished: Date(), total: 3)
                let published = "\(fixture.done)/\(JobName(fileName: job)!.safeName)"
                try FileManager.default.createDirectory(atPath: published, withIntermediateDirectories: true)
                try JobResult.jsonEncoder().encode(result).write(to: URL(fileURLWithPath: "\(published)/result.json"))
                try await Self.sendUntil(watch) { receiver.statuses.count == 2 }
                #expect(watch.stateFile.state.reports.isEmpty)
                return (receiver.statuses, published)
            }
            let (received, published) = statuses
            #expect(received.map(\.path) == Array(repeating: "/api/v1/repos/team/app/statuses/\(commit)", count: 2))
            #expect(received.map(\.authorization) == ["token tok-123", "token tok-123"])
            #expect(received.map { $0.fields["state"] } == ["pending", "success"])
            #expect(received.map { $0.fields["context"] } == ["construir", "construir"])
            #expect(received[0].fields["target_url"] == nil && received[1].fields["target_url"] == published)
        }
    }

    @Test func aFailedCommandIsRetriedAfterARestart() async throws {
        try await WatchFixture.with { fixture, http in
            let repo = try await fixture.repository("tool")
            let commit = try await repo.commit("one", RepositoryWatchTests.script)
            try await repo.push("main")
            let log = "\(fixture.directory)/reports.log", gate = "\(fixture.directory)/open"
            var repository = WatchRepository(url: fixture.server.url("tool"), branches: try RefSelection(["main"], what: "branches"))
            repository.report = .command("""
                test -e \(gate) || exit 3
                echo "$CONSTRUIR_JOB $CONSTRUIR_STATUS $CONSTRUIR_COMMIT $CONSTRUIR_REF $CONSTRUIR_URL" >> \(log)
                """)
            let watch = try fixture.watch(repository, http: http)
            await watch.poll()
            await watch.sendReports()
            #expect(!FileManager.default.fileExists(atPath: log))
            #expect(watch.stateFile.state.reports.first?.attempts == 1)

            #expect(FileManager.default.createFile(atPath: gate, contents: nil))
            let restarted = try fixture.watch(repository, http: http)
            try await Self.sendUntil(restarted) { FileManager.default.fileExists(atPath: log) }
            let line = try String(contentsOfFile: log, encoding: .utf8)
            #expect(line == "\(jobFile("tool", commit)) pending \(commit) refs/heads/main \n")
        }
    }

    /// Sends the owed reports until `done` holds; a bounded number of rounds (the retry waits
    /// are milliseconds in the fixture's settings).
    static func sendUntil(_ watch: RepositoryWatch, _ done: () -> Bool) async throws {
        for _ in 0..<200 where !done() {
            await watch.sendReports()
            if done() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(done())
    }
}
