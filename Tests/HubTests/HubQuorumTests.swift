import Foundation
import HubStore
import Testing

/// Majorities, replicas added when none forms, trust, lease limits and runner records: pure
/// transitions, no store.
@Suite struct HubQuorumTests {
    private let start = Date(timeIntervalSince1970: 1_800_000_000)
    private let lease = Duration.seconds(60)

    private func replica(_ runner: String, serial: Int, digest: String = "d") -> HubJob.Replica {
        HubJob.Replica(runner: runner, serial: serial, attempt: 1, status: .passed, exitCode: 0, outputDigest: digest)
    }

    /// Hands the job to `runner` and records its result with `digest`.
    private func deliver(_ job: inout HubJob, _ runner: String, digest: String) throws {
        let hold = job.hand(to: runner, now: start, duration: lease)
        _ = try job.beginFinishing(holder: runner, now: start)
        try job.record(holder: runner, replica: replica(runner, serial: hold.serial, digest: digest), failure: nil, now: start)
    }

    @Test func aStrictMajorityOfThreeDecidesAndNamesTheDissenter() throws {
        var job = HubJob(id: "j", job: "a_i0.tar.xz", queued: start, sha256: "s", size: 1, replicas: 3)
        try deliver(&job, "forger", digest: "forged")
        try deliver(&job, "r1", digest: "d")
        #expect(job.state == .held && job.verdict == nil)
        try deliver(&job, "r2", digest: "d")
        #expect(job.state == .finishing)
        let verdict = try #require(job.verdict)
        #expect(verdict.state == .agreed)
        #expect(verdict.canonical.runner == "r1", "the first result of the majority is the job's")
        #expect(verdict.majority.map(\.runner) == ["r1", "r2"])
        #expect(verdict.dissenters.map(\.runner) == ["forger"])
    }

    @Test func noMajorityAddsAReplicaUpToTheMostThenDisputes() throws {
        var job = HubJob(id: "j", job: "a_i0.tar.xz", queued: start, sha256: "s", size: 1, replicas: 2, maxReplicas: 4)
        try deliver(&job, "r1", digest: "a")
        try deliver(&job, "r2", digest: "b")
        #expect(job.state == .held && job.replicas == 3 && job.openPlaces == 1, "two that disagree ask for a third")
        try deliver(&job, "r3", digest: "c")
        #expect(job.state == .held && job.replicas == 4, "three different results: one more")
        try deliver(&job, "r4", digest: "a")
        #expect(job.state == .finishing, "at --max-replicas it ends")
        let verdict = try #require(job.verdict)
        #expect(verdict.state == .disputed, "2 of 4 is no strict majority")
        #expect(verdict.dissenters.count == 4 && verdict.majority.isEmpty)

        var settled = HubJob(id: "k", job: "a_i0.tar.xz", queued: start, sha256: "s", size: 1, replicas: 2, maxReplicas: 3)
        try deliver(&settled, "r1", digest: "a")
        try deliver(&settled, "r2", digest: "b")
        try deliver(&settled, "r3", digest: "b")
        #expect(settled.verdict?.state == .agreed && settled.verdict?.canonical.runner == "r2")
        #expect(settled.verdict?.dissenters.map(\.runner) == ["r1"])

        var fixed = HubJob(id: "l", job: "a_i0.tar.xz", queued: start, sha256: "s", size: 1, replicas: 2)
        try deliver(&fixed, "r1", digest: "a")
        try deliver(&fixed, "r2", digest: "b")
        #expect(fixed.verdict?.state == .disputed, "without --max-replicas above --replicas, nothing is added")
    }

    @Test func aTrustedRunnerRunsAFreshJobAloneAndLosesItByFailing() throws {
        var job = HubJob(id: "j", job: "a_i0.tar.xz", queued: start, sha256: "s", size: 1, replicas: 2)
        _ = job.hand(to: "r1", now: start, duration: lease, alone: 12)
        #expect(job.replicas == 1 && job.trust == HubJob.Trust(runner: "r1", agreedInARow: 12, replicas: 2))
        #expect(job.openPlaces == 0, "no second runner is wanted")
        _ = try job.beginFinishing(holder: "r1", now: start)
        try job.record(holder: "r1", replica: nil, failure: "error", now: start)
        #expect(job.trust == nil && job.replicas == 2 && job.openPlaces == 2, "its failure gives the job its replicas back")
        _ = job.hand(to: "r2", now: start, duration: lease, alone: 12)
        #expect(job.trust == nil && job.replicas == 2, "only a job no runner had yet goes to one alone")

        var alone = HubJob(id: "k", job: "a_i0.tar.xz", queued: start, sha256: "s", size: 1, replicas: 2)
        _ = alone.hand(to: "r1", now: start, duration: lease, alone: 10)
        _ = try alone.beginFinishing(holder: "r1", now: start)
        try alone.record(holder: "r1", replica: replica("r1", serial: 1), failure: nil, now: start)
        #expect(alone.state == .finishing && alone.verdict?.state == .trusted)

        var expired = HubJob(id: "e", job: "a_i0.tar.xz", queued: start, sha256: "s", size: 1, replicas: 3)
        _ = expired.hand(to: "r1", now: start, duration: lease, alone: 10)
        #expect(expired.expireHolds(now: start.addingTimeInterval(61)).count == 1)
        #expect(expired.trust == nil && expired.replicas == 3)

        var single = HubJob(id: "s", job: "a_i0.tar.xz", queued: start, sha256: "s", size: 1, replicas: 1)
        _ = single.hand(to: "r1", now: start, duration: lease, alone: 10)
        #expect(single.trust == nil, "a job run once anyway is not a trusted one")
    }

    @Test func noHoldOutlivesTheJobsLeaseLimitWhateverItsHeartbeats() throws {
        var job = HubJob(id: "j", job: "a_i0.tar.xz", queued: start, sha256: "s", size: 1, leaseLimit: .seconds(100))
        let hold = job.hand(to: "r1", now: start, duration: lease)
        #expect(hold.expires == start.addingTimeInterval(60))
        #expect(try job.heartbeat(holder: "r1", now: start.addingTimeInterval(30), duration: lease).expires == start.addingTimeInterval(90))
        let capped = try job.heartbeat(holder: "r1", now: start.addingTimeInterval(80), duration: lease)
        #expect(capped.expires == start.addingTimeInterval(100))
        #expect(job.reachedLimit(capped))
        #expect(job.expireHolds(now: start.addingTimeInterval(99)).isEmpty)
        #expect(job.expireHolds(now: start.addingTimeInterval(100)).map(\.holder) == ["r1"])
        #expect(job.failures == 1 && job.lastFailure?.contains("limit") == true)

        var short = HubJob(id: "k", job: "a_i0.tar.xz", queued: start, sha256: "s", size: 1, leaseLimit: .seconds(10))
        #expect(short.hand(to: "r1", now: start, duration: lease).expires == start.addingTimeInterval(10), "a limit below the lease caps the first one too")
    }

    @Test func aFailingRunnersQuotaHalvesAndEachResultDoublesItBack() {
        var record = HubRunnerRecord()
        #expect(record.quota(daily: 8) == 8)
        record.apply(.error)
        record.apply(.error)
        #expect(record.quota(daily: 8) == 2 && record.errors == 2)
        record.apply(.error)
        record.apply(.error)
        #expect(record.quota(daily: 8) == 1, "never below one")
        record.apply(.delivered)
        #expect(record.quota(daily: 8) == 1, "four failures, one made good: 8 >> 3")
        for _ in 0..<10 { record.apply(.delivered) }
        #expect(record.quota(daily: 8) == 8, "never above the hub's")

        var day = HubRunnerRecord()
        day.apply(.error)  // quota 2 of 4
        day.held(at: start)
        #expect(day.mayHold(at: start, daily: 4) && day.refusal(at: start, daily: 4) == nil)
        day.held(at: start.addingTimeInterval(10))
        #expect(!day.mayHold(at: start.addingTimeInterval(20), daily: 4))
        #expect(day.refusal(at: start, daily: 4)?.contains("daily quota of 2") == true)
        let tomorrow = start.addingTimeInterval(86_400)
        #expect(day.holds(on: tomorrow) == 0 && day.mayHold(at: tomorrow, daily: 4), "a new UTC day starts from zero")
    }

    @Test func agreementsInARowEarnTrustAndAnyDisputeOrErrorResetsThem() {
        var record = HubRunnerRecord()
        for _ in 0..<3 { record.apply(.agreed) }
        #expect(record.agreedInARow == 3)
        #expect(!record.runsAlone(after: 4, draw: 0))
        record.apply(.agreed)
        #expect(record.runsAlone(after: 4, draw: 0.74) && !record.runsAlone(after: 4, draw: 0.75), "probability 1 - 1/K")
        record.apply(.delivered)
        #expect(record.agreedInARow == 4, "a delivered result alone is no agreement")
        record.apply(.disputed)
        #expect(record.agreedInARow == 0 && record.agreed == 4 && record.disputed == 1)
        for _ in 0..<4 { record.apply(.agreed) }
        record.apply(.error)
        #expect(record.agreedInARow == 0)
    }
}
