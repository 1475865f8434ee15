import Foundation
import HubStore
import Testing

/// The hub's lease rules as pure transitions on `HubJob`: no store, no disk, no clock but the
/// times passed in.
@Suite struct HubJobTests {
    private let start = Date(timeIntervalSince1970: 1_800_000_000)
    private let lease = Duration.seconds(60)

    private func job(replicas: Int = 1) -> HubJob {
        HubJob(id: "j1", job: "a_i0.tar.xz", queued: start, sha256: "s", size: 1, replicas: replicas)
    }

    private func replica(_ runner: String, serial: Int, digest: String = "d") -> HubJob.Replica {
        HubJob.Replica(runner: runner, serial: serial, attempt: 1, status: .passed, exitCode: 0, outputDigest: digest)
    }

    @Test func aQueuedJobIsHeldOnceHandedOutAndHeartbeatsMoveItsExpiry() throws {
        var job = job()
        #expect(job.state == .queued)
        #expect(job.openPlaces == 1)
        #expect(job.image == 0)
        #expect(job.wantsRunner("r1", maxAttempts: 3))
        let hold = job.hand(to: "r1", now: start, duration: lease)
        #expect(job.state == .held)
        #expect(hold.serial == 1 && hold.attempt == 1)
        #expect(hold.expires == start.addingTimeInterval(60))
        #expect(job.openPlaces == 0)
        #expect(!job.wantsRunner("r2", maxAttempts: 3))
        let later = start.addingTimeInterval(20)
        #expect(try job.heartbeat(holder: "r1", now: later, duration: lease).expires == later.addingTimeInterval(60))
        #expect(throws: HubNotHeld.self) { try job.heartbeat(holder: "r2", now: later, duration: lease) }
        #expect(job.expireHolds(now: start.addingTimeInterval(79)).isEmpty)
        #expect(job.expireHolds(now: start.addingTimeInterval(80)).map(\.holder) == ["r1"])
        #expect(job.failures == 1)
        #expect(job.lastFailure?.contains("r1") == true)
        #expect(throws: HubNotHeld.self) { try job.heartbeat(holder: "r1", now: start.addingTimeInterval(81), duration: lease) }
        #expect(job.openPlaces == 1, "the place waits for the next runner")
        let again = job.hand(to: "r2", now: start.addingTimeInterval(82), duration: lease)
        #expect(again.attempt == 2)
        #expect(again.serial == 2)
    }

    @Test func aReleaseIsNoFailureAndALapsedHoldCannotBeReleased() throws {
        var job = job()
        _ = job.hand(to: "r1", now: start, duration: lease)
        try job.release(holder: "r1", now: start)
        #expect(job.failures == 0)
        #expect(job.state == .held, "it keeps its place ahead of the queue")
        #expect(throws: HubNotHeld.self) { try job.release(holder: "r1", now: start) }
        let next = job.hand(to: "r2", now: start, duration: lease)
        #expect(next.attempt == 1)
        #expect(throws: HubNotHeld.self) { try job.release(holder: "r2", now: start.addingTimeInterval(61)) }
    }

    @Test func aFinishingHoldNeitherExpiresNorTakesASecondResult() throws {
        var job = job()
        _ = job.hand(to: "r1", now: start, duration: lease)
        let hold = try job.beginFinishing(holder: "r1", now: start)
        #expect(hold.finishing == start)
        #expect(job.expireHolds(now: start.addingTimeInterval(3600)).isEmpty)
        #expect(throws: HubNotHeld.self) { try job.heartbeat(holder: "r1", now: start, duration: lease) }
        try job.record(holder: "r1", replica: replica("r1", serial: 1), failure: nil, now: start)
        #expect(job.state == .finishing)
        #expect(job.isComplete)
        #expect(throws: HubNotHeld.self) { try job.record(holder: "r1", replica: replica("r1", serial: 1), failure: nil, now: start) }
        #expect(job.verdict?.state == .agreed)
        job.end(status: .passed, now: start)
        #expect(job.state == .done && job.status == .passed && job.location == nil)
        job.published(as: "a")
        #expect(job.location == "a")
        job.published(as: "")
        #expect(job.location == "a", "a hub that found the directory gone does not erase where another put it")
        var other = job
        other.location = nil
        other.published(as: "")
        other.published(as: "a.2")
        #expect(other.location == "a.2", "the known name, recorded after the unknown one, wins")
    }

    @Test func replicasGoToDifferentRunnersAndAreComparedOnceAllAreIn() throws {
        var job = job(replicas: 2)
        _ = job.hand(to: "r1", now: start, duration: lease)
        #expect(!job.wantsRunner("r1", maxAttempts: 3), "a runner never gets a second replica")
        #expect(job.wantsRunner("r2", maxAttempts: 3))
        let second = job.hand(to: "r2", now: start, duration: lease)
        #expect(second.attempt == 1, "a second replica is no second attempt")
        _ = try job.beginFinishing(holder: "r1", now: start)
        try job.record(holder: "r1", replica: replica("r1", serial: 1), failure: nil, now: start)
        #expect(job.state == .held)
        #expect(job.verdict == nil)
        #expect(!job.wantsRunner("r1", maxAttempts: 3), "nor after it reported")
        _ = try job.beginFinishing(holder: "r2", now: start)
        try job.record(holder: "r2", replica: replica("r2", serial: 2, digest: "other"), failure: nil, now: start)
        #expect(job.state == .finishing)
        #expect(job.verdict?.state == .disputed)
        #expect(job.verdict?.canonical.runner == "r1")
    }

    @Test func failuresUpToMaxAttemptsExhaustAJob() throws {
        var job = job(replicas: 2)
        _ = job.hand(to: "r1", now: start, duration: lease)
        _ = job.hand(to: "r2", now: start, duration: lease)
        _ = try job.beginFinishing(holder: "r1", now: start)
        try job.record(holder: "r1", replica: nil, failure: "r1 sent an error", now: start)
        #expect(job.failures == 1 && job.lastFailure == "r1 sent an error")
        #expect(job.wantsRunner("r1", maxAttempts: 2), "a failed runner may try again: only results must come from others")
        let third = job.hand(to: "r3", now: start, duration: lease)
        #expect(third.attempt == 2 && third.serial == 3)
        #expect(Set(job.expireHolds(now: start.addingTimeInterval(61)).map(\.holder)) == ["r2", "r3"])
        #expect(job.isExhausted(maxAttempts: 3))
        #expect(!job.wantsRunner("r4", maxAttempts: 3))
        try job.beginFinishingJob(now: start)
        #expect(job.state == .finishing)
        #expect(throws: HubNotHeld.self) { try job.beginFinishingJob(now: start) }
    }

    @Test func settlingRenewsLiveHoldsAndSettlesOnlyStaleResults() throws {
        var job = job(replicas: 4)
        _ = job.hand(to: "live", now: start, duration: lease)
        _ = job.hand(to: "kept", now: start, duration: lease)
        _ = job.hand(to: "lost", now: start, duration: lease)
        _ = job.hand(to: "recent", now: start.addingTimeInterval(150), duration: lease)
        _ = try job.beginFinishing(holder: "kept", now: start)
        _ = try job.beginFinishing(holder: "lost", now: start)
        _ = try job.beginFinishing(holder: "recent", now: start.addingTimeInterval(200))
        let later = start.addingTimeInterval(300)
        let finish = job.settle(staleBefore: start.addingTimeInterval(100), renewingUntil: later.addingTimeInterval(60)) {
            $0.holder == "kept" ? replica("kept", serial: $0.serial) : nil
        }
        #expect(!finish)
        #expect(job.holds.map(\.holder) == ["live", "recent"], "a result taken in since the cut-off is another hub's, still going")
        #expect(job.holds.first?.expires == later.addingTimeInterval(60))
        #expect(job.results.map(\.runner) == ["kept"])
        #expect(job.failures == 1 && job.lastFailure?.contains("lost") == true)
        #expect(job.state == .held)
    }

    @Test func aStaleFinishIsDoneAgainOrGoesBackToItsRunners() throws {
        var complete = job()
        _ = complete.hand(to: "r1", now: start, duration: lease)
        _ = try complete.beginFinishing(holder: "r1", now: start)
        try complete.record(holder: "r1", replica: replica("r1", serial: 1), failure: nil, now: start)
        #expect(complete.finishingSince == start)
        #expect(!complete.settle(staleBefore: start.addingTimeInterval(-1)) { _ in nil }, "not stale yet")
        #expect(complete.settle(staleBefore: start) { _ in nil }, "all replicas in: finish it again")
        // A job the hub was ending in error, not complete, starts over.
        var ending = job()
        _ = ending.hand(to: "r1", now: start, duration: lease)
        _ = ending.expireHolds(now: start.addingTimeInterval(61))
        try ending.beginFinishingJob(now: start)
        #expect(!ending.settle(staleBefore: start) { _ in nil })
        #expect(ending.state == .held && ending.finishingSince == nil)
        #expect(ending.wantsRunner("r2", maxAttempts: 3))
    }

    @Test func aStoppedJobIsHandedToNoOneAndEndsWithWhatComes() throws {
        var queued = job()
        #expect(queued.requestStop(now: start) == .endsNow)
        #expect(queued.openPlaces == 0 && !queued.wantsRunner("r1", maxAttempts: 3) && queued.isStoppedUnheld)
        #expect(queued.requestStop(now: start.addingTimeInterval(5)) == .endsNow && queued.stopRequested == start, "asking again changes nothing")

        var held = job(replicas: 2)
        _ = held.hand(to: "r1", now: start, duration: lease)
        #expect(held.requestStop(now: start.addingTimeInterval(1)) == .asked)
        #expect(held.openPlaces == 0, "the second replica's place closes")
        #expect(!held.isStoppedUnheld && !held.isComplete)
        _ = try held.heartbeat(holder: "r1", now: start.addingTimeInterval(2), duration: lease)
        _ = try held.beginFinishing(holder: "r1", now: start.addingTimeInterval(3))
        var killed = replica("r1", serial: 1)
        killed.status = .killed
        try held.record(holder: "r1", replica: killed, failure: nil, now: start.addingTimeInterval(3))
        #expect(held.state == .finishing && held.isComplete, "one result ends a stopped job")
        #expect(held.verdict?.state == .agreed && held.verdict?.canonical.runner == "r1")
        #expect(held.requestStop(now: start.addingTimeInterval(4)) == .tooLate)

        var silent = job()
        _ = silent.hand(to: "r1", now: start, duration: lease)
        #expect(silent.requestStop(now: start) == .asked)
        #expect(silent.expireHolds(now: start.addingTimeInterval(61)).count == 1)
        #expect(silent.isStoppedUnheld && silent.openPlaces == 0, "a runner that never answers ends it, it is not handed out again")
    }
}
