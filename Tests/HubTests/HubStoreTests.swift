import ConstruirSystem
import Foundation
import HubStore
import JobModel
import Logging
import Synchronization
import Testing
import TestSupport

/// Both stores, held to the same rules: claims in pickup order, one runner's cap, replicas to
/// different runners, expiry with its reputation count, and everything still there after a
/// reopen. The PostgreSQL store runs against a real private server.
@Suite struct HubStoreTests {
    enum Kind: String, CaseIterable, Sendable {
        case sqlite, postgres

        /// Without PostgreSQL its cases are left out, and `postgresIsInstalled` says so.
        static var tested: [Kind] { PostgresCluster.available ? allCases : [.sqlite] }
    }

    @Test(.enabled(if: PostgresCluster.available, "PostgreSQL is not installed (scripts/install-deps installs it): its store is not tested"))
    func postgresIsInstalled() {
        #expect(PostgresCluster.binaries != nil, "CONSTRUIR_REQUIRE_POSTGRES=1, but there is no /usr/lib/postgresql/N/bin/initdb")
    }

    /// Runs `body` with a function that opens the same store anew each time it is called.
    private func withStore(_ kind: Kind, _ body: (@escaping () async throws -> any HubStore) async throws -> Void) async throws {
        switch kind {
        case .sqlite:
            try await withTemporaryDirectory { dir in
                try await body { try SQLiteHubStore(path: "\(dir)/hub.sqlite") }
            }
        case .postgres:
            try await PostgresCluster.with { cluster in
                let url = try await cluster.database("hub")
                // Two clients of the same database: the test's store, and the same store reopened.
                let stores = try (0..<2).map { _ in try PostgresHubStore(url: url, logger: Logger(label: "test")) }
                try await withThrowingDiscardingTaskGroup { group in
                    for store in stores { group.addTask { await store.client.run() } }
                    let next = Mutex(0)
                    try await body {
                        let store = stores[next.withLock { index in defer { index += 1 }; return index }]
                        try await store.prepare()
                        return store
                    }
                    group.cancelAll()
                }
            }
        }
    }

    private let start = Date(timeIntervalSince1970: 1_800_000_000)
    private let rules = HubRules(leaseDuration: .seconds(60), maxAttempts: 3, maxLeasesPerRunner: 32)
    private let any: @Sendable (HubOffer) -> Bool = { _ in true }

    private func job(_ id: String, _ name: String, at offset: Double, replicas: Int = 1) -> HubJob {
        HubJob(id: id, job: name, queued: start.addingTimeInterval(offset), sha256: "sha-\(id)", size: 10, replicas: replicas)
    }

    @Test(arguments: Kind.tested) func claimsGoOldestFirstOnceEachAndSurviveAReopen(kind: Kind) async throws {
        try await withStore(kind) { open in
            var store: (any HubStore)? = try await open()
            try await store?.add([job("b", "b_i0.tar.xz", at: 2), job("a", "a_i0.tar.xz", at: 1)])
            try await store?.add([job("a", "changed_i0.tar.xz", at: 0)])  // an id already there is left alone
            #expect(try await store?.queuedCount() == 2)
            #expect(try await store?.isQueued(name: "a_i0.tar.xz") == true)
            let first = try #require(try await store?.claim(for: "r1", rules: rules, now: start, accepting: any))
            #expect(first.id == "a" && first.fileName == "a_i0.tar.xz" && first.holder == "r1")
            #expect(first.expires == start.addingTimeInterval(60))
            #expect(try await store?.isQueued(name: "a_i0.tar.xz") == false)
            #expect(try await store?.claim(for: "r2", rules: rules, now: start, accepting: any)?.id == "b")
            #expect(try await store?.claim(for: "r3", rules: rules, now: start, accepting: any) == nil)
            #expect(try await store?.hasWork(for: "r3", rules: rules, now: start, accepting: any) == false)
            store = nil
            let reopened = try await open()
            let held = try await reopened.jobs(in: [.held])
            #expect(held.map(\.id) == ["a", "b"])
            #expect(held.first?.holds.first?.expires == start.addingTimeInterval(60), "the lease survived")
        }
    }

    @Test(arguments: Kind.tested) func concurrentClaimsEachGetAJobWhileAnyIsLeft(kind: Kind) async throws {
        try await withStore(kind) { open in
            let store = try await open()
            let count = 12
            try await store.add((0..<count).map { job("j\($0)", "j\($0)_i0.tar.xz", at: Double($0)) })
            let claimed = try await withThrowingTaskGroup(of: String?.self) { group in
                for index in 0..<count {
                    group.addTask { try await store.claim(for: "r\(index)", rules: rules, now: start, accepting: any)?.id }
                }
                return try await group.reduce(into: [String?]()) { $0.append($1) }
            }
            #expect(claimed.compactMap { $0 }.count == count, "a claim in flight hides no other job: \(claimed)")
            #expect(Set(claimed.compactMap { $0 }).count == count, "no job twice")
        }
    }

    @Test(arguments: Kind.tested) func aClaimSkipsJobsItsFilterRefusesAndAWaitingPlaceComesBeforeTheQueue(kind: Kind) async throws {
        try await withStore(kind) { open in
            let store = try await open()
            try await store.add([job("a", "a_i1.tar.xz", at: 1), job("b", "b_i0.tar.xz", at: 2), job("c", "c_i0.tar.xz", at: 3)])
            let onlyImage0: @Sendable (HubOffer) -> Bool = { $0.name.image(default: 0) == 0 }
            let b = try #require(try await store.claim(for: "r1", rules: rules, now: start, accepting: onlyImage0))
            #expect(b.id == "b", "the older a_i1 is skipped and stays queued")
            try await store.update("b") { job, _ in try job.release(holder: "r1", now: start) }
            #expect(try await store.claim(for: "r2", rules: rules, now: start, accepting: { _ in false }) == nil)
            #expect(try await store.claim(for: "r2", rules: rules, now: start, accepting: onlyImage0)?.id == "b",
                    "a given-back job goes before the older queued ones")
            #expect(try await store.claim(for: "r2", rules: rules, now: start, accepting: any)?.id == "a")
        }
    }

    @Test(arguments: Kind.tested) func aRunnerHoldsAtMostItsCapAndGetsOneReplicaOfAJob(kind: Kind) async throws {
        try await withStore(kind) { open in
            let store = try await open()
            let capped = HubRules(leaseDuration: .seconds(60), maxAttempts: 3, maxLeasesPerRunner: 2)
            try await store.add([job("a", "a_i0.tar.xz", at: 1, replicas: 2), job("b", "b_i0.tar.xz", at: 2), job("c", "c_i0.tar.xz", at: 3)])
            #expect(try await store.claim(for: "greedy", rules: capped, now: start, accepting: any)?.id == "a")
            #expect(try await store.claim(for: "greedy", rules: capped, now: start, accepting: any)?.id == "b",
                    "not a's second replica")
            #expect(try await store.claim(for: "greedy", rules: capped, now: start, accepting: any) == nil, "at its cap")
            #expect(try await store.hasWork(for: "other", rules: capped, now: start, accepting: any))
            let second = try #require(try await store.claim(for: "other", rules: capped, now: start, accepting: any))
            #expect(second.id == "a" && second.serial == 2 && second.attempt == 1)
            // Once one of its holds runs out, the greedy runner may claim again.
            let expired = try await store.expire(now: start.addingTimeInterval(61))
            #expect(Set(expired.map(\.holder)) == ["greedy", "other"])
            #expect(try await store.runnerRecords()["greedy"]?.errors == 2, "each lapsed hold counts against its runner")
            #expect(try await store.claim(for: "greedy", rules: capped, now: start.addingTimeInterval(62), accepting: any) != nil)
        }
    }

    @Test(arguments: Kind.tested) func anUpdateIsAllOrNothingAndCountsItsOutcomes(kind: Kind) async throws {
        try await withStore(kind) { open in
            let store = try await open()
            try await store.add([job("a", "a_i0.tar.xz", at: 1)])
            _ = try await store.claim(for: "r1", rules: rules, now: start, accepting: any)
            await #expect(throws: HubNotHeld.self) {
                try await store.update("a") { job, outcomes in
                    outcomes.add(.agreed, for: ["r1"])
                    try job.release(holder: "r1", now: start)
                    try job.release(holder: "r1", now: start)  // throws: the first change is not kept either
                }
            }
            #expect(try await store.job("a")?.holds.count == 1)
            #expect(try await store.runnerRecord("r1").agreed == 0, "the outcome is not kept either")
            await #expect(throws: HubNotHeld.self) { try await store.update("nope") { _, _ in } }
            try await store.update("a") { job, outcomes in
                _ = try job.beginFinishing(holder: "r1", now: start)
                try job.record(holder: "r1", replica: nil, failure: "bad", now: start)
                outcomes.add(.error, for: ["r1"])
            }
            #expect(try await store.runnerRecord("r1").counts == [0, 0, 1])
            try await store.importReputation(["r1": .init(agreed: 5, disputed: 1, errors: 0)], once: "k")
            try await store.importReputation(["r1": .init(agreed: 5, disputed: 1, errors: 0)], once: "k")
            #expect(try await store.runnerRecord("r1").counts == [5, 1, 1], "imported once")
        }
    }

    @Test(arguments: Kind.tested) func quotasTrustAndLeaseLimitsAreKeptAndClaimsFollowThem(kind: Kind) async throws {
        try await withStore(kind) { open in
            let store = try await open()
            let other = try await open()
            var limited = job("a", "a_i0.tar.xz", at: 1, replicas: 2)
            limited.maxReplicas = 3
            limited.leaseLimit = .seconds(90)
            try await store.add([limited, job("b", "b_i0.tar.xz", at: 2, replicas: 2), job("c", "c_i0.tar.xz", at: 3)])
            // A runner with two failures under a daily quota of 4 gets one hold today.
            try await store.update("a") { _, outcomes in outcomes.add(.error, for: ["bad", "bad"]) }
            let quota = HubRules(leaseDuration: .seconds(60), dailyQuota: 4)
            let first = try #require(try await store.claim(for: "bad", rules: quota, now: start, accepting: any))
            #expect(first.id == "a" && first.expires == start.addingTimeInterval(60))
            #expect(try await store.claim(for: "bad", rules: quota, now: start, accepting: any) == nil, "at its quota of 1")
            #expect(try await other.runnerRecord("bad").holds(on: start) == 1)
            let reopened = try #require(try await other.job("a"))
            #expect(reopened.maxReplicas == 3 && reopened.leaseLimit == .seconds(90))
            // A runner with agreed results in a row runs a fresh replicated job alone when the draw says so.
            try await store.update("c") { _, outcomes in outcomes.add(.agreed, for: ["trusted", "trusted", "trusted"]) }
            let never = HubRules(leaseDuration: .seconds(60), trust: HubTrust(after: 3, draw: { 0.99 }))
            let replicated = try #require(try await store.claim(for: "trusted", rules: never, now: start, accepting: any))
            #expect(replicated.id == "a" && replicated.job.trust == nil, "a job others hold already is not run alone")
            let always = HubRules(leaseDuration: .seconds(60), trust: HubTrust(after: 3, draw: { 0 }))
            let alone = try #require(try await store.claim(for: "trusted", rules: always, now: start, accepting: any))
            #expect(alone.id == "b" && alone.job.replicas == 1)
            let kept = try #require(try await other.job("b"))
            #expect(kept.trust == HubJob.Trust(runner: "trusted", agreedInARow: 3, replicas: 2) && kept.openPlaces == 0)
            #expect(try await store.claim(for: "bad", rules: quota, now: start.addingTimeInterval(86_400), accepting: any)?.id == "c",
                    "a new day")
        }
    }

    @Test(arguments: Kind.tested) func doneJobsWaitingForDoneAreListedUntilPublished(kind: Kind) async throws {
        try await withStore(kind) { open in
            let store = try await open()
            try await store.add([job("a", "a_i0.tar.xz", at: 1)])
            try await store.update("a") { job, _ in job.end(status: .passed, now: start) }
            #expect(try await store.unpublished().map(\.id) == ["a"])
            #expect(try await store.jobs(in: [.queued, .held, .finishing]).isEmpty)
            try await store.update("a") { job, _ in job.published(as: "a.2") }
            #expect(try await store.unpublished().isEmpty)
            #expect(try await store.job("a")?.location == "a.2")
        }
    }

    @Test func theSQLiteFileIsPrivate() async throws {
        try await withTemporaryDirectory { dir in
            _ = try SQLiteHubStore(path: "\(dir)/hub.sqlite")
            var st = stat()
            #expect(stat("\(dir)/hub.sqlite", &st) == 0 && st.st_mode & 0o077 == 0)
        }
    }

    @Test(arguments: Kind.tested) func listingsGoNewestFirstByFilterAndPage(kind: Kind) async throws {
        try await withStore(kind) { open in
            let store = try await open()
            var jobs: [HubJob] = []
            for index in 0..<12 {
                var job = HubJob(id: String(format: "id%02d", index), job: "\(index % 2 == 0 ? "app" : "lib")\(index)_i0.tar.xz",
                                 submitter: index % 3 == 0 ? nil : (index % 3 == 1 ? "alice" : "bob"),
                                 queued: start.addingTimeInterval(Double(index / 2)), sha256: "s", size: 1)
                if index < 4 { job.end(status: index == 0 ? .failed : .passed, now: start.addingTimeInterval(100)) }
                jobs.append(job)
            }
            try await store.add(jobs)
            // Newest first; two jobs share each queued time, and the id breaks the tie.
            let all = try await store.list(HubJobQuery(limit: 100)).map(\.id)
            #expect(all == (0..<12).reversed().map { String(format: "id%02d", $0) })
            // Paging: three pages of five, four and three come back whole and in order.
            var paged: [String] = []
            var after: HubJobQuery.Position?
            repeat {
                let page = try await store.list(HubJobQuery(after: after, limit: 5))
                paged += page.map(\.id)
                after = page.count == 5 ? page.last.map(HubJobQuery.Position.init) : nil
            } while after != nil
            #expect(paged == all)
            #expect(try await store.list(HubJobQuery(submitter: "alice", limit: 100)).map(\.id) == ["id10", "id07", "id04", "id01"])
            #expect(try await store.list(HubJobQuery(namePrefix: "app1", limit: 100)).map(\.id) == ["id10"])
            #expect(try await store.list(HubJobQuery(namePrefix: "%", limit: 100)).isEmpty, "a prefix is no pattern")
            #expect(try await store.list(HubJobQuery(states: [.done], limit: 100)).map(\.id) == ["id03", "id02", "id01", "id00"])
            #expect(try await store.list(HubJobQuery(states: [.done], status: .failed, limit: 100)).map(\.id) == ["id00"])
            #expect(try await store.list(HubJobQuery(states: [.queued], submitter: "bob", limit: 2)).map(\.id) == ["id11", "id08"])
            let reopened = try await open()
            #expect(try await reopened.list(HubJobQuery(limit: 1)).first?.submitter == "bob")
        }
    }

    @Test(arguments: Kind.tested) func submittersTakeTurns(kind: Kind) async throws {
        try await withStore(kind) { open in
            let store = try await open()
            // Alice queues 200 jobs, then Bob one: Bob's goes out among the first three.
            try await store.add((0..<200).map { index in
                HubJob(id: String(format: "a%03d", index), job: "a\(index)_i0.tar.xz", submitter: "alice",
                       queued: start.addingTimeInterval(Double(index)), sha256: "s", size: 1)
            })
            try await store.add([HubJob(id: "b000", job: "b_i0.tar.xz", submitter: "bob", queued: start.addingTimeInterval(500), sha256: "s", size: 1)])
            var order: [String] = []
            for index in 0..<3 {
                let hold = try await store.claim(for: "r\(index)", rules: rules, now: start.addingTimeInterval(600), accepting: any)
                order.append(try #require(hold).id)
            }
            #expect(order == ["a000", "b000", "a001"], "each submitter's first job before anyone's second")
            // A job dropped into the queue (the operator's) joins at the front: after the job
            // whose turn it is (a002), before the rest of Alice's.
            try await store.add([HubJob(id: "o000", job: "o_i0.tar.xz", queued: start.addingTimeInterval(700), sha256: "s", size: 1)])
            var next: [String] = []
            for index in 3..<5 {
                next.append(try #require(try await store.claim(for: "r\(index)", rules: rules, now: start.addingTimeInterval(800), accepting: any)).id)
            }
            #expect(next == ["a002", "o000"])
            #expect(try await store.queuedCount(of: "alice") == 197)
            #expect(try await store.queuedCount(of: "bob") == 0)
        }
    }
}

extension HubRunnerRecord {
    /// Agreed, disputed, errors.
    var counts: [Int] { [agreed, disputed, errors] }
}
