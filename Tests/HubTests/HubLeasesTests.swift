import ConstruirSystem
import Foundation
import JobModel
import Testing
import TestSupport
@testable import Hub

/// The hub's leases: a job taken from the queue by one rename, held while heartbeats come,
/// back for the next runner when they stop, refused to a runner that lost it, and kept across
/// a restart. Times are passed in, so no test waits.
@Suite struct HubLeasesTests {
    private func queue(_ dir: String, _ names: [String]) throws -> String {
        let queue = "\(dir)/queue"
        try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
        for (index, name) in names.enumerated() {
            try "job \(name)".write(toFile: "\(queue)/\(name)", atomically: false, encoding: .utf8)
            let when = Date(timeIntervalSince1970: 1_700_000_000 + Double(index))
            try FileManager.default.setAttributes([.modificationDate: when], ofItemAtPath: "\(queue)/\(name)")
        }
        return queue
    }

    private let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func jobsAreHandedOutOldestFirstOnceEach() async throws {
        try await withTemporaryDirectory { dir in
            let queue = try queue(dir, ["a_i0.tar.xz", "b_i1.tar.xz"])
            let leases = try HubLeases(queueDirectory: queue, directory: "\(dir)/leases", duration: .seconds(60))
            let first = try #require(try leases.claim(for: "r1", now: start))
            #expect(first.job == "a_i0.tar.xz")
            #expect(first.holder == "r1")
            #expect(first.attempt == 1)
            #expect(first.expires == start.addingTimeInterval(60))
            #expect(first.sha256 == Hex.sha256("job a_i0.tar.xz"), "the sha256 of the job file")
            #expect(first.size == Int64("job a_i0.tar.xz".utf8.count))
            let second = try #require(try leases.claim(for: "r2", now: start))
            #expect(second.job == "b_i1.tar.xz")
            #expect(try leases.claim(for: "r3", now: start) == nil)
            #expect(try FileManager.default.contentsOfDirectory(atPath: queue).isEmpty, "both left the queue")
            #expect(FileSystem.exists("\(leases.path(first.id))/job.tar.xz"))
        }
    }

    @Test func aClaimSkipsJobsItsFilterRefusesWaitingOrQueued() async throws {
        try await withTemporaryDirectory { dir in
            let queue = try queue(dir, ["a_i1.tar.xz", "b_i0.tar.xz"])
            let leases = try HubLeases(queueDirectory: queue, directory: "\(dir)/leases", duration: .seconds(30))
            let onlyImage0: (JobName) -> Bool = { $0.image(default: 0) == 0 }
            let first = try #require(try leases.claim(for: "r1", now: start, accepting: onlyImage0))
            #expect(first.job == "b_i0.tar.xz", "the older a_i1 is skipped, and stays queued")
            #expect(try leases.claim(for: "r1", now: start, accepting: onlyImage0) == nil)
            #expect(try FileManager.default.contentsOfDirectory(atPath: queue) == ["a_i1.tar.xz"])
            // A waiting lease is skipped the same way.
            try leases.release(id: first.id, holder: "r1", now: start)
            #expect(try leases.claim(for: "r2", now: start, accepting: { _ in false }) == nil)
            #expect(try leases.claim(for: "r2", now: start, accepting: onlyImage0)?.id == first.id)
        }
    }

    @Test func heartbeatsKeepALeaseAndItRunsOutWithoutThem() async throws {
        try await withTemporaryDirectory { dir in
            let queue = try queue(dir, ["a_i0.tar.xz"])
            let leases = try HubLeases(queueDirectory: queue, directory: "\(dir)/leases", duration: .seconds(30))
            let lease = try #require(try leases.claim(for: "r1", now: start))
            let later = start.addingTimeInterval(20)
            #expect(try leases.heartbeat(id: lease.id, holder: "r1", now: later).expires == later.addingTimeInterval(30))
            #expect(throws: HubLeases.NotHeld.self) { try leases.heartbeat(id: lease.id, holder: "r2", now: later) }
            // Not expired at 45 s (the heartbeat moved it to 50 s).
            #expect(try leases.expire(now: start.addingTimeInterval(45)).isEmpty)
            let expired = try leases.expire(now: start.addingTimeInterval(50))
            #expect(expired.map(\.id) == [lease.id])
            #expect(leases.exhausted().isEmpty)
            // The old holder's heartbeat and upload are refused; the next runner gets it, counted.
            #expect(throws: HubLeases.NotHeld.self) { try leases.heartbeat(id: lease.id, holder: "r1", now: start.addingTimeInterval(51)) }
            #expect(throws: HubLeases.NotHeld.self) { try leases.lease(lease.id, heldBy: "r1", now: start.addingTimeInterval(51)) }
            let again = try #require(try leases.claim(for: "r2", now: start.addingTimeInterval(52)))
            #expect(again.id == lease.id)
            #expect(again.attempt == 2)
            #expect(try leases.lease(lease.id, heldBy: "r2", now: start.addingTimeInterval(53)).holder == "r2")
        }
    }

    @Test func aJobWhoseLeaseRanOutMaxAttemptsTimesIsExhausted() async throws {
        try await withTemporaryDirectory { dir in
            let queue = try queue(dir, ["a_i0.tar.xz"])
            let leases = try HubLeases(queueDirectory: queue, directory: "\(dir)/leases", duration: .seconds(10), maxAttempts: 2)
            var now = start
            _ = try #require(try leases.claim(for: "r1", now: now))
            now += 11
            #expect(try leases.expire(now: now).count == 1)
            #expect(leases.exhausted().isEmpty)
            _ = try #require(try leases.claim(for: "r2", now: now))
            now += 11
            let expired = try leases.expire(now: now)
            #expect(expired.count == 1)
            #expect(leases.exhausted().map(\.failures) == [2])
            #expect(try leases.claim(for: "r3", now: now) == nil, "an exhausted job is not handed out again")
        }
    }

    @Test func aReleasedJobIsNoAttemptAndARestartKeepsEveryLease() async throws {
        try await withTemporaryDirectory { dir in
            let queue = try queue(dir, ["a_i0.tar.xz", "b_i0.tar.xz"])
            let id: String
            do {
                let leases = try HubLeases(queueDirectory: queue, directory: "\(dir)/leases", duration: .seconds(60))
                let a = try #require(try leases.claim(for: "r1", now: start))
                _ = try #require(try leases.claim(for: "r2", now: start))
                try leases.release(id: a.id, holder: "r1", now: start)
                #expect(throws: HubLeases.NotHeld.self) { try leases.release(id: a.id, holder: "r1", now: start) }
                id = a.id
                // A second hub on the same directory is refused while this one lives.
                #expect(throws: ConstruirError.self) { try HubLeases(queueDirectory: queue, directory: "\(dir)/leases", duration: .seconds(60)) }
            }
            let restarted = try HubLeases(queueDirectory: queue, directory: "\(dir)/leases", duration: .seconds(60))
            let all = restarted.leases()
            #expect(all.count == 2)
            #expect(all.first { $0.holds.first?.holder == "r2" }?.holds.first?.expires == start.addingTimeInterval(60), "the live lease survived")
            let again = try #require(try restarted.claim(for: "r3", now: start))
            #expect(again.id == id)
            #expect(again.attempt == 1, "the release was no attempt")
        }
    }

    @Test func oneRunnerHoldsAtMostMaxLeasesAndAnotherGetsTheRest() async throws {
        try await withTemporaryDirectory { dir in
            let queue = try queue(dir, ["a_i0.tar.xz", "b_i0.tar.xz", "c_i0.tar.xz"])
            let leases = try HubLeases(queueDirectory: queue, directory: "\(dir)/leases", duration: .seconds(60), maxLeasesPerRunner: 2)
            #expect(try leases.claim(for: "greedy", now: start)?.job == "a_i0.tar.xz")
            #expect(try leases.claim(for: "greedy", now: start)?.job == "b_i0.tar.xz")
            #expect(try leases.claim(for: "greedy", now: start) == nil)
            #expect(leases.hasWork(for: "other"), "c still waits for another runner")
            #expect(try leases.claim(for: "other", now: start)?.job == "c_i0.tar.xz")
            // Once one of its leases runs out, the greedy runner may claim again.
            _ = try leases.expire(now: start.addingTimeInterval(61))
            #expect(try leases.claim(for: "greedy", now: start.addingTimeInterval(62)) != nil)
        }
    }

    @Test func aRestartedHubGivesHeldLeasesOneMoreLeaseAndRecoversHalfFinishedOnes() async throws {
        try await withTemporaryDirectory { dir in
            let queue = try queue(dir, ["a_i0.tar.xz", "b_i0.tar.xz"])
            var leases: HubLeases? = try HubLeases(queueDirectory: queue, directory: "\(dir)/leases", duration: .seconds(60))
            let held = try #require(try leases?.claim(for: "r1", now: start))
            let finishing = try #require(try leases?.claim(for: "r2", now: start))
            _ = try leases?.beginFinishing(id: finishing.id, holder: "r2", now: start)
            leases = nil  // the hub stops: its lock goes with it
            let restarted = try HubLeases(queueDirectory: queue, directory: "\(dir)/leases", duration: .seconds(60))
            let later = start.addingTimeInterval(300)  // down longer than a lease
            #expect(try restarted.recover(now: later, replicaResult: { _ in nil }).isEmpty)
            #expect(try restarted.heartbeat(id: held.id, holder: "r1", now: later.addingTimeInterval(59)).holder == "r1")
            // The result being taken in was lost with the hub: its job goes to the next runner, attempt counted.
            let again = try #require(try restarted.claim(for: "r3", now: later))
            #expect(again.id == finishing.id)
            #expect(again.attempt == 2)
        }
    }

    @Test func aReplicatedJobGoesToDifferentRunnersAndIsCompleteWhenEveryReplicaIsIn() async throws {
        try await withTemporaryDirectory { dir in
            let queue = try queue(dir, ["a_i0.tar.xz", "b_i0.tar.xz"])
            let leases = try HubLeases(queueDirectory: queue, directory: "\(dir)/leases", duration: .seconds(60),
                                       replication: HubReplication(replicas: 2))
            let a1 = try #require(try leases.claim(for: "r1", now: start))
            #expect(a1.job == "a_i0.tar.xz")
            #expect(a1.lease.replicas == 2)
            // r1 never gets a second replica of a: it gets b instead, and then nothing.
            #expect(try leases.claim(for: "r1", now: start)?.job == "b_i0.tar.xz")
            #expect(!leases.hasWork(for: "r1"), "what is left wants runners other than r1")
            #expect(try leases.claim(for: "r1", now: start) == nil)
            #expect(leases.hasWork(for: "r2"))
            let a2 = try #require(try leases.claim(for: "r2", now: start))
            #expect(a2.id == a1.id)
            #expect(a2.serial == 2, "each hold numbers its uploads apart")
            #expect(a2.attempt == 1, "a second replica is no second attempt")
            // r1's result is in; the job waits for r2's.
            _ = try leases.beginFinishing(id: a1.id, holder: "r1", now: start)
            let replica = { (runner: String) in
                HubLease.Replica(runner: runner, serial: 1, attempt: 1, status: .passed, exitCode: 0, outputDigest: "d")
            }
            let half = try leases.record(id: a1.id, holder: "r1", replica: replica("r1"), failure: nil)
            #expect(!half.isComplete)
            #expect(half.finishing == nil)
            #expect(throws: HubLeases.NotHeld.self) { try leases.record(id: a1.id, holder: "r1", replica: replica("r1"), failure: nil) }
            _ = try leases.beginFinishing(id: a1.id, holder: "r2", now: start)
            let whole = try leases.record(id: a1.id, holder: "r2", replica: replica("r2"), failure: nil)
            #expect(whole.isComplete)
            #expect(whole.finishing == true)
            #expect(leases.awaitingCompletion().map(\.id) == [a1.id], "a stopped hub would finish it at start")
            #expect(try leases.claim(for: "r3", now: start)?.job == "b_i0.tar.xz", "only b still wants a runner")
        }
    }

    @Test func aFailedReplicaGoesToAnotherRunnerUntilMaxAttempts() async throws {
        try await withTemporaryDirectory { dir in
            let queue = try queue(dir, ["a_i0.tar.xz"])
            let leases = try HubLeases(queueDirectory: queue, directory: "\(dir)/leases", duration: .seconds(60), maxAttempts: 2,
                                       replication: HubReplication(replicas: 2))
            let first = try #require(try leases.claim(for: "r1", now: start))
            _ = try #require(try leases.claim(for: "r2", now: start))
            _ = try leases.beginFinishing(id: first.id, holder: "r1", now: start)
            let failed = try leases.record(id: first.id, holder: "r1", replica: nil, failure: "r1 sent an error")
            #expect(failed.failures == 1)
            #expect(failed.lastFailure == "r1 sent an error")
            let third = try #require(try leases.claim(for: "r3", now: start))
            #expect(third.id == first.id)
            #expect(third.attempt == 2)
            #expect(third.serial == 3)
            // r3's hold runs out: the second failure; once r2's hold ends too, the job is exhausted.
            let expired = try leases.expire(now: start.addingTimeInterval(61))
            #expect(Set(expired.map(\.holder)) == ["r2", "r3"])
            #expect(leases.exhausted().map(\.id) == [first.id])
            #expect(try leases.claim(for: "r4", now: start.addingTimeInterval(62)) == nil)
        }
    }

    @Test func aJobMayAskForMoreReplicasUpToTheHubsCapButNeverFewer() async throws {
        try await withTemporaryDirectory { dir in
            func job(_ manifest: String?) async throws -> String {
                let root = "\(dir)/\(UUID().uuidString)"
                try FileManager.default.createDirectory(atPath: "\(root)/job", withIntermediateDirectories: true)
                try "echo hi\n".write(toFile: "\(root)/job/construir", atomically: false, encoding: .utf8)
                if let manifest { try manifest.write(toFile: "\(root)/job/construir.yml", atomically: false, encoding: .utf8) }
                _ = try await runTool(["tar", "-cJf", "\(root).tar.xz", "-C", root, "job"])
                return "\(root).tar.xz"
            }
            let (plain, three, nine, one, bad) = (try await job(nil), try await job("replicas: 3\n"), try await job("replicas: 9\n"),
                                                  try await job("replicas: 1\n"), try await job("replicas: many\n"))
            let policy = HubReplication(replicas: 2, maxReplicas: 3)
            #expect(policy.replicas(forJob: plain) == 2)
            #expect(policy.replicas(forJob: three) == 3)
            #expect(policy.replicas(forJob: nine) == 3, "capped at --max-replicas")
            #expect(policy.replicas(forJob: one) == 2, "never below the hub's policy")
            #expect(policy.replicas(forJob: bad) == 2, "a manifest runners reject")
            #expect(HubReplication(replicas: 2).replicas(forJob: three) == 2, "no cap above --replicas: no more")
        }
    }

    @Test func leaseFilesAndDirectoriesArePrivate() async throws {
        try await withTemporaryDirectory { dir in
            let queue = try queue(dir, ["a_i0.tar.xz"])
            let leases = try HubLeases(queueDirectory: queue, directory: "\(dir)/leases", duration: .seconds(60))
            let lease = try #require(try leases.claim(for: "r1", now: start))
            for (path, mode) in [("\(dir)/leases", 0o700), (leases.path(lease.id), 0o700), ("\(leases.path(lease.id))/lease.json", 0o600)] {
                var st = stat()
                #expect(stat(path, &st) == 0)
                #expect(Int(st.st_mode & 0o777) == mode, "\(path)")
            }
            #expect(throws: HubLeases.NotHeld.self) { try leases.heartbeat(id: "../../etc", holder: "r1", now: start) }
        }
    }
}
