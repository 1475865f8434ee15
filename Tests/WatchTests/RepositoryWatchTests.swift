import ConstruirSystem
import Foundation
import JobModel
import Testing
import TestSupport
import Watch

/// `watch` against real repositories served by `git daemon` on loopback, one poll at a time.
@Suite struct RepositoryWatchTests {
    static let script = ["construir": "#!/bin/sh\necho built\n"]

    private func entry(_ url: String, branches: [String] = ["main", "dev"], tags: [String] = ["v*"]) throws -> WatchRepository {
        WatchRepository(url: url, branches: try RefSelection(branches, what: "branches"), tags: try RefSelection(tags, what: "tags"))
    }

    @Test func twoBranchesAndATagEachNewCommitQueuedOnce() async throws {
        try await WatchFixture.with { fixture, http in
            let repo = try await fixture.repository("app")
            let base = try await repo.commit("one", Self.script)
            try await git(["tag", "-a", "-m", "release", "v1"], in: repo.work)
            let main1 = try await repo.commit("two")
            try await git(["checkout", "-q", "-b", "dev", base], in: repo.work)
            let dev1 = try await repo.commit("dev one")
            try await repo.push("main", "dev", "v1")
            let repository = try entry(fixture.server.url("app"))

            // First poll: only each ref's newest commit.
            let watch = try fixture.watch(repository, http: http)
            await watch.poll()
            #expect(Set(try fixture.takeQueued()) == Set([main1, dev1, base].map { jobFile("app", $0) }))

            // Commits pushed between polls: each once, a commit on both branches once.
            try await git(["checkout", "-q", "main"], in: repo.work)
            let main2 = try await repo.commit("three")
            let main3 = try await repo.commit("four")
            try await git(["checkout", "-q", "dev"], in: repo.work)
            try await git(["reset", "-q", "--hard", "main"], in: repo.work)  // dev: dev1 → main3, forced
            try await git(["tag", "v2", main3], in: repo.work)
            try await repo.push("main", "dev", "v2")
            await watch.poll()
            #expect(try fixture.takeQueued() == [main2, main3].map { jobFile("app", $0) }.sorted())

            // Nothing new, and a restart (the state read afresh) queues nothing again.
            await watch.poll()
            try await fixture.watch(repository, http: http).poll()
            #expect(try fixture.takeQueued() == [])
            let state = watch.stateFile.state
            #expect(state.queued.count == 5 && state.health.failures == 0 && state.intents.isEmpty)
            // dev reached main3 first (refs are handled in name order): its BRANCH is dev.
            #expect(state.queued[main3]?.ref == "refs/heads/dev")
        }
    }

    @Test func theJobKnowsItsBranchOrTag() async throws {
        try await WatchFixture.with { fixture, http in
            let repo = try await fixture.repository("lib")
            let commit = try await repo.commit("one", Self.script)
            try await git(["tag", "v1", commit], in: repo.work)
            try await repo.push("main", "v1")
            try await fixture.watch(try entry(fixture.server.url("lib"), branches: [], tags: ["v*"]), http: http).poll()
            let file = "\(fixture.queue)/\(jobFile("lib", commit))"
            let (status, listing) = try await runTool(["tar", "-xJOf", file, "job/construir"])
            #expect(status == 0)
            #expect(listing.contains("export TAG='v1'"), "\(listing)")
            #expect(listing.contains("export REPO_URL='\(fixture.server.url("lib"))'"), "\(listing)")
        }
    }

    @Test func aSecondWatcherOnTheSameStateIsRefusedAndStrayJobsGo() async throws {
        try await WatchFixture.with { fixture, _ in
            let settings = fixture.settings
            try Watcher.prepare(settings, destination: .queue(directory: fixture.queue, done: fixture.done))
            let held = try Watcher.lock(settings)
            #expect(throws: ConstruirError.self) { _ = try Watcher.lock(settings) }
            withExtendedLifetime(held) {}
            #expect(FileManager.default.createFile(atPath: "\(settings.outgoing)/app_0123_i0.tar.xz", contents: Data("x".utf8)))
            try Watcher.removeStrayJobs(settings)
            #expect(try FileManager.default.contentsOfDirectory(atPath: settings.outgoing) == [])
        }
    }

    @Test func conditionsSkipACommit() async throws {
        try await WatchFixture.with { fixture, http in
            let repo = try await fixture.repository("cond")
            try await repo.commit("one", Self.script.merging(["src/a.c": "int a;\n"]) { $1 })
            try await repo.push("main")
            var repository = try entry(fixture.server.url("cond"))
            repository.fileExists = ["construir"]
            repository.directoryExists = ["src"]
            let watch = try fixture.watch(repository, http: http)
            await watch.poll()
            #expect(try fixture.takeQueued().count == 1)
            try await git(["rm", "-q", "-r", "src"], in: repo.work)
            let without = try await repo.commit("no src")
            let back = try await repo.commit("src again", ["src/b.c": "int b;\n"])
            try await repo.push("main")
            await watch.poll()
            #expect(try fixture.takeQueued() == [jobFile("cond", back)])
            #expect(watch.stateFile.state.queued[without] == nil)
            #expect(watch.stateFile.state.refs["refs/heads/main"] == back)
        }
    }

    @Test func aRepositoryThatGoesAwayIsRetriedAndTheOthersGoOn() async throws {
        try await WatchFixture.with { fixture, http in
            let gone = try await fixture.repository("gone"), kept = try await fixture.repository("kept")
            for repo in [gone, kept] {
                try await repo.commit("one", Self.script)
                try await repo.push("main")
            }
            let goneWatch = try fixture.watch(try entry(fixture.server.url("gone")), http: http)
            let keptWatch = try fixture.watch(try entry(fixture.server.url("kept")), http: http)
            await goneWatch.poll()
            await keptWatch.poll()
            #expect(try fixture.takeQueued().count == 2)

            try FileManager.default.moveItem(atPath: gone.bare, toPath: "\(fixture.directory)/away.git")
            let next = try await kept.commit("two")
            try await kept.push("main")
            let wait1 = await goneWatch.poll()
            let wait2 = await goneWatch.poll()
            await keptWatch.poll()
            #expect(try fixture.takeQueued() == [jobFile("kept", next)])
            #expect(goneWatch.stateFile.state.health.failures == 2 && wait2 == wait1 * 2)
            let status = WatchStatus.text(try WatchStatus.states(in: fixture.state))
            #expect(status.contains("\(fixture.server.url("gone")): unreachable (2 failed polls in a row)"))
            #expect(status.contains("\(fixture.server.url("kept")): ok"))

            // Back again: the commit pushed while it was away is queued.
            try FileManager.default.moveItem(atPath: "\(fixture.directory)/away.git", toPath: gone.bare)
            let later = try await gone.commit("two")
            try await gone.push("main")
            await goneWatch.poll()
            #expect(try fixture.takeQueued() == [jobFile("gone", later)])
            #expect(goneWatch.stateFile.state.health.failures == 0)
        }
    }
}
