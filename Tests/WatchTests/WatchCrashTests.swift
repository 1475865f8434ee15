import Foundation
import Testing
import TestSupport

/// `construir watch` killed with SIGKILL between packaging a commit and recording it queued
/// (`CONSTRUIR_CRASH_AT`), then started again: every commit reaches the queue exactly once.
@Suite struct WatchCrashTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    static func binary() throws -> String {
        let beside = URL(fileURLWithPath: ProcessInfo.processInfo.arguments[0]).deletingLastPathComponent().path
        for candidate in ["\(beside)/construir", "\(repository)/.build/debug/construir"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw TestSetupError("the construir binary is not built (swift build)")
    }

    @Test(arguments: ["watch-packaged", "watch-intended", "watch-sent"])
    func killedBetweenPackagingAndRecording(at point: String) async throws {
        try await WatchFixture.with { fixture, _ in
            let repo = try await fixture.repository("app")
            try await repo.commit("one", RepositoryWatchTests.script)
            try await repo.push("main")
            let reposFile = "\(fixture.directory)/repos.yml"
            try "repositories:\n  - url: \(fixture.server.url("app"))\n    branches: main\n".write(toFile: reposFile, atomically: true, encoding: .utf8)
            let arguments = [try Self.binary(), "watch", "--once", "--repos", reposFile, "--queue", fixture.queue,
                             "--state", fixture.state, "--images", "\(fixture.directory)/no-images"]
            #expect(try await runTool(arguments).status == 0)
            #expect(try fixture.takeQueued().count == 1)

            let two = try await repo.commit("two"), three = try await repo.commit("three")
            try await repo.push("main")
            let crashed = try await runTool(arguments, environment: ["CONSTRUIR_CRASH_AT": point])
            #expect(crashed.status == SIGKILL)
            let beforeRestart = try fixture.takeQueued()
            #expect(try await runTool(arguments).status == 0)
            let afterRestart = try fixture.takeQueued()
            #expect((beforeRestart + afterRestart).sorted() == [two, three].map { jobFile("app", $0) }.sorted())
            #expect(try await runTool(arguments).status == 0)
            #expect(try fixture.takeQueued() == [])
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(fixture.state)/outgoing").filter { !$0.hasPrefix(".") } == [])
        }
    }
}
