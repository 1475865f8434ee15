import Foundation
import Testing
@testable import HubStore

/// What a store writes after a transition: only the rows it changed.
@Suite struct HubJobChangesTests {
    private let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func aNewJobIsWrittenWhole() {
        var job = HubJob(id: "j", job: "j_i0.tar.xz", queued: start, sha256: "s", size: 1)
        _ = job.hand(to: "r1", now: start, duration: .seconds(60))
        let changes = HubJobChanges(from: nil, to: job)
        #expect(changes.job && changes.holds.map(\.holder) == ["r1"] && changes.removedHolders.isEmpty)
    }

    @Test func aClaimWritesTheJobAndOneHoldAndAHeartbeatOnlyItsHold() throws {
        let queued = HubJob(id: "j", job: "j_i0.tar.xz", queued: start, sha256: "s", size: 1, replicas: 2)
        var held = queued
        _ = held.hand(to: "r1", now: start, duration: .seconds(60))
        let claim = HubJobChanges(from: queued, to: held)
        #expect(claim.job, "state, handed_out and open places changed")
        #expect(claim.holds.map(\.holder) == ["r1"] && claim.removedHolders.isEmpty && claim.replicas.isEmpty)
        var beaten = held
        _ = try beaten.heartbeat(holder: "r1", now: start.addingTimeInterval(10), duration: .seconds(60))
        let heartbeat = HubJobChanges(from: held, to: beaten)
        #expect(!heartbeat.job && heartbeat.holds.map(\.holder) == ["r1"] && heartbeat.removedHolders.isEmpty)
        var released = beaten
        try released.release(holder: "r1", now: start.addingTimeInterval(20))
        let release = HubJobChanges(from: beaten, to: released)
        #expect(release.removedHolders == ["r1"] && release.holds.isEmpty)
        #expect(release.job, "its open places (a column a claim searches by) changed")
        // The same runner holding it again is a replaced row, not a removed one.
        var again = released
        _ = again.hand(to: "r1", now: start.addingTimeInterval(30), duration: .seconds(60))
        let rehold = HubJobChanges(from: beaten, to: again)
        #expect(rehold.removedHolders.isEmpty && rehold.holds.map(\.serial) == [2])
    }
}
