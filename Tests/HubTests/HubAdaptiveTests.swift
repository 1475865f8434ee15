import ConstruirSystem
import Foundation
import HubAPI
import HubStore
import JobModel
import Logging
import Synchronization
import Testing
import TestSupport
@testable import Hub

/// Adaptive replication through the hub's own coordinator, store and intake, in process: the
/// draw that decides whether a trusted runner runs alone is the test's, so every branch is
/// taken on purpose.
@Suite struct HubAdaptiveTests {
    /// Whether the next draw lets a trusted runner run alone.
    private final class Draw: Sendable {
        let alone = Atomic(false)
        func set(_ value: Bool) { alone.store(value, ordering: .relaxed) }
    }
    private let draw = Draw()

    private func coordinator(_ dir: String) throws -> HubCoordinator {
        for directory in ["\(dir)/queue", "\(dir)/done"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        let blobs = try HubBlobs(directory: "\(dir)/queue/.construir-hub")
        let store = try SQLiteHubStore(path: "\(blobs.directory)/hub.sqlite")
        let intake = HubResultIntake(store: store, blobs: blobs, done: try DoneStore(directory: "\(dir)/done"))
        let draw = self.draw
        let trust = HubTrust(after: 2, draw: { draw.alone.load(ordering: .relaxed) ? 0 : 0.99 })
        return HubCoordinator(store: store, blobs: blobs, intake: intake, rules: HubRules(leaseDuration: .seconds(60), trust: trust),
                              terms: HubJobTerms(replicas: 2), queueDirectory: "\(dir)/queue", logger: Logger(label: "test"))
    }

    /// An output archive holding `answer.txt`.
    private func output(_ dir: String, _ answer: String) async throws -> String {
        let root = "\(dir)/out-\(answer)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try answer.write(toFile: "\(root)/answer.txt", atomically: false, encoding: .utf8)
        chmod("\(root)/answer.txt", 0o644)
        let (status, log) = try await runTool(["tar", "-cJf", "\(root).tar.xz", "-C", root, "answer.txt"])
        #expect(status == 0, "tar: \(log)")
        return "\(root).tar.xz"
    }

    /// Queues job NAME; returns its claims by `runners`, in order (nil: none for that runner).
    private func queue(_ hub: HubCoordinator, _ dir: String, _ name: String, claimedBy runners: [String]) async throws -> [HubHold?] {
        try "job \(name)".write(toFile: "\(dir)/queue/\(name)_i0.tar.xz", atomically: false, encoding: .utf8)
        var holds: [HubHold?] = []
        for runner in runners { holds.append(try await hub.claim(for: runner, accepting: { _ in true })) }
        return holds
    }

    /// `held`'s runner sends the output at `archive` and a passed result.
    @discardableResult
    private func deliver(_ hub: HubCoordinator, _ held: HubHold?, _ archive: String) async throws -> HubReceipt {
        let held = try #require(held)
        try FileManager.default.copyItem(atPath: archive, toPath: "\(hub.blobs.path(held.id))/\(HubResultIntake.outputUpload(serial: held.serial))")
        let result = sampleResult(job: held.fileName, status: .passed, exitCode: 0, finished: Date(), total: 1)
        return try await hub.finish(held.id, by: held.holder, reported: result).receipt
    }

    private func readResult(_ directory: String) throws -> JobResult {
        try JobResult.decode(try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(JobFiles.result)")))
    }

    @Test func aRunnerEarnsTrustRunsAloneAndLosesItToOneForgery() async throws {
        try await withTemporaryDirectory { dir in
            let hub = try coordinator(dir)
            let (right, forged) = (try await output(dir, "42"), try await output(dir, "41"))
            draw.set(true)
            // Two agreed results in a row each: K = 2.
            for name in ["one", "two"] {
                let holds = try await queue(hub, dir, name, claimedBy: ["r1", "r2"])
                #expect(holds.allSatisfy { $0?.job.trust == nil }, "no runner is trusted yet")
                for held in holds { try await deliver(hub, held, right) }
                #expect(try readResult("\(dir)/done/\(name)").quorum?.state == .agreed)
            }
            #expect(try await hub.store.runnerRecord("r1").agreedInARow == 2)

            // Trusted now: r1 runs the next job alone, and no second runner is asked.
            let trusted = try await queue(hub, dir, "three", claimedBy: ["r1", "r2"])
            #expect(trusted[0]?.job.replicas == 1 && trusted[1] == nil)
            try await deliver(hub, trusted[0], right)
            let three = try readResult("\(dir)/done/three")
            #expect(three.quorum?.state == .trusted && three.quorum?.agreedInARow == 2)
            #expect(three.quorum?.replicas.map(\.runnerID) == ["r1"] && three.runnerID == "r1")
            #expect(try await hub.store.runnerRecord("r1").agreedInARow == 2, "running alone checks nothing: no agreement counted")

            // The draw asks for a check; r1 forges, and the honest runner disputes it.
            draw.set(false)
            let checked = try await queue(hub, dir, "four", claimedBy: ["r1", "r2"])
            #expect(checked.allSatisfy { $0 != nil && $0?.job.trust == nil })
            try await deliver(hub, checked[0], forged)
            try await deliver(hub, checked[1], right)
            #expect(try readResult("\(dir)/done/four").quorum?.state == .disputed)
            #expect(try await hub.store.runnerRecord("r1").agreedInARow == 0)

            // Its trust is gone: whatever the draw, its next job is replicated again.
            draw.set(true)
            let again = try await queue(hub, dir, "five", claimedBy: ["r1", "r2"])
            #expect(again[0]?.job.trust == nil && again[1] != nil, "r2, disputed too, is not trusted either")
            for held in again { try await deliver(hub, held, right) }
            #expect(try readResult("\(dir)/done/five").quorum?.state == .agreed)
        }
    }
}
