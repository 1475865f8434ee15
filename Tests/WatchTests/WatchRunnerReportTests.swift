import Foundation
import Testing
import TestSupport

/// The report of a job a real runner ran: `construir watch --once` queues it and reports
/// `pending`, `construir run --exit-when-idle` runs it on image 0, and the next `watch --once`
/// reports its final status with the link to done/. Skipped when image 0 is not built, unless
/// CONSTRUIR_REQUIRE_IMAGES=1 (scripts/test) makes that a failure.
@Suite(.serialized, .timeLimit(.minutes(10)),
       .enabled(if: ProcessInfo.processInfo.environment["CONSTRUIR_REQUIRE_IMAGES"] == "1"
                || FileManager.default.fileExists(atPath: "\(WatchCrashTests.repository)/images/0/image.json"),
                "build image 0 is not built: construir image build 0 (scripts/test builds it)"))
struct WatchRunnerReportTests {
    @Test func aForgeGetsPendingThenTheRunnersResult() async throws {
        try await WatchFixture.with { fixture, _ in
            let repo = try await fixture.repository("team/app")
            let commit = try await repo.commit("one", ["construir": "#!/bin/sh\necho built by construir\n"])
            try await repo.push("main")
            let token = "\(fixture.directory)/forge-token"
            try "tok\n".write(toFile: token, atomically: true, encoding: .utf8)
            chmod(token, 0o600)
            let images = "\(WatchCrashTests.repository)/images"
            let receiver = ForgeReceiver()
            let received = try await receiver.serve { api in
                let reposFile = "\(fixture.directory)/repos.yml"
                try """
                    repositories:
                      - url: \(fixture.server.url("team/app"))
                        branches: main
                        report: {forge: gitea, api: '\(api)', token_file: \(token)}
                    """.write(toFile: reposFile, atomically: true, encoding: .utf8)
                let watch = [try WatchCrashTests.binary(), "watch", "--once", "--repos", reposFile, "--queue", fixture.queue,
                             "--done", fixture.done, "--state", fixture.state, "--images", images]
                #expect(try await runTool(watch).status == 0)
                #expect(receiver.statuses.map { $0.fields["state"] } == ["pending"])
                // Its output to a file: QEMU must not hold a pipe the test reads to its end.
                let run = try await runTool(["/bin/sh", "-c", #"exec "$0" "$@" >"$LOG" 2>&1"#, try WatchCrashTests.binary(), "run", "--queue", fixture.queue, "--done", fixture.done,
                                             "--images", images, "--memory", "256M", "--timeout", "120s", "--exit-when-idle"],
                                            environment: ["LOG": "\(fixture.directory)/runner.log"])
                #expect(run.status == 0)
                #expect(try await runTool(watch).status == 0)
                return receiver.statuses
            }
            #expect(received.map { $0.fields["state"] } == ["pending", "success"])
            #expect(received.last?.path == "/api/v1/repos/team/app/statuses/\(commit)")
            #expect(received.last?.fields["target_url"] == "\(fixture.done)/app_\(commit.prefix(12))")
        }
    }
}
