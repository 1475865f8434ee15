import ConstruirSystem
import Foundation
import HubAPI
import HubStore
import JobModel
import Logging
import Testing
import TestSupport
@testable import Hub

/// A hub's start: job files taken from the queue, a job whose commit was lost taken back, and
/// the lease files of the file-based releases imported once, losing nothing.
@Suite struct HubRecoveryTests {
    private let start = Date(timeIntervalSince1970: 1_800_000_000)

    private func coordinator(_ dir: String, replicas: Int = 1) throws -> HubCoordinator {
        let blobs = try HubBlobs(directory: "\(dir)/queue/.construir-hub")
        let store = try SQLiteHubStore(path: "\(blobs.directory)/hub.sqlite")
        let intake = HubResultIntake(store: store, blobs: blobs, done: try DoneStore(directory: "\(dir)/done"))
        return HubCoordinator(store: store, blobs: blobs, intake: intake, rules: HubRules(leaseDuration: .seconds(60)),
                              terms: HubJobTerms(replicas: replicas), queueDirectory: "\(dir)/queue",
                              logger: Logger(label: "test"))
    }

    private func queue(_ dir: String, _ names: [String]) throws {
        // Explicit modes: libarchive, extracting in another test of this process, sets the umask
        // to 0 for a moment, and the hub refuses a queue others could write.
        for directory in ["\(dir)/queue", "\(dir)/done"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        }
        for (index, name) in names.enumerated() {
            try "job \(name)".write(toFile: "\(dir)/queue/\(name)", atomically: false, encoding: .utf8)
            try FileManager.default.setAttributes([.modificationDate: start.addingTimeInterval(Double(index))],
                                                  ofItemAtPath: "\(dir)/queue/\(name)")
        }
    }

    @Test func queuedFilesBecomeJobsOldestFirstInPrivateDirectories() async throws {
        try await withTemporaryDirectory { dir in
            try queue(dir, ["a_i0.tar.xz", "b_i1.tar.xz", ".hidden.part", "notajob.txt"])
            let hub = try coordinator(dir)
            #expect(try await hub.takeQueuedFiles() == 2)
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/queue")) == [".hidden.part", "notajob.txt", ".construir-hub"])
            let first = try #require(try await hub.claim(for: "r1", accepting: { _ in true }))
            #expect(first.fileName == "a_i0.tar.xz")
            #expect(first.sha256 == Hex.sha256("job a_i0.tar.xz"))
            #expect(first.size == Int64("job a_i0.tar.xz".utf8.count))
            #expect(first.queued == start)
            for path in [hub.blobs.directory, hub.blobs.path(first.id), "\(hub.blobs.path(first.id))/inbox.json"] {
                var st = stat()
                #expect(stat(path, &st) == 0)
                #expect(st.st_mode & 0o077 == 0, "\(path) is private (mode \(String(st.st_mode & 0o777, radix: 8)))")
            }
            await #expect(throws: HubNotHeld.self) { try await hub.heartbeat("../../etc", by: "r1") }
            // A second hub on the same directory is refused while this one lives.
            #expect(throws: ConstruirError.self) { try HubBlobs(directory: hub.blobs.directory) }
        }
    }

    @Test func aJobMovedButNotRecordedIsTakenBackAtStart() async throws {
        try await withTemporaryDirectory { dir in
            try queue(dir, ["a_i0.tar.xz"])
            do {
                let blobs = try HubBlobs(directory: "\(dir)/queue/.construir-hub")
                // The hub moved the file and stopped before its store's commit.
                #expect(try blobs.take(blobs.pending(in: "\(dir)/queue"), from: "\(dir)/queue", terms: HubJobTerms()).jobs.count == 1)
                try FileManager.default.createDirectory(atPath: "\(blobs.directory)/123-half", withIntermediateDirectories: false,
                                                        attributes: [.posixPermissions: 0o700])
                try "{}".write(toFile: "\(blobs.directory)/123-half/inbox.json", atomically: false, encoding: .utf8)
            }
            let hub = try coordinator(dir)
            try await hub.recover()
            #expect(try await hub.store.queuedCount() == 1)
            #expect(try await hub.claim(for: "r1", accepting: { _ in true })?.fileName == "a_i0.tar.xz")
        }
    }

    @Test func aFileBasedHubsLeasesAndReputationAreImportedOnce() async throws {
        try await withTemporaryDirectory { dir in
            try queue(dir, [])
            let leases = "\(dir)/queue/.construir-hub"
            try PrivateDirectory.make(leases)
            func lease(_ id: String, _ body: String) throws {
                try PrivateDirectory.make("\(leases)/\(id)")
                try "job \(id)".write(toFile: "\(leases)/\(id)/job.tar.xz", atomically: false, encoding: .utf8)
                try body.write(toFile: "\(leases)/\(id)/lease.json", atomically: false, encoding: .utf8)
            }
            let now = Date()
            let format = ISO8601DateFormatter()
            format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            let expires = format.string(from: now.addingTimeInterval(30))
            // A held lease, and a place waiting for a runner after a failure.
            try lease("1-held", """
                {"id":"1-held","job":"held_i0.tar.xz","queued":"2027-01-15T08:00:00.000Z","sha256":"aa","size":9,"replicas":1,
                 "handedOut":1,"failures":0,"holds":[{"holder":"r1","serial":1,"attempt":1,"claimed":"2027-01-15T08:00:01.000Z","expires":"\(expires)"}],
                 "results":[]}
                """)
            try lease("2-waiting", """
                {"id":"2-waiting","job":"waiting_i0.tar.xz","queued":"2027-01-15T08:00:02.000Z","sha256":"bb","size":9,"replicas":1,
                 "handedOut":1,"failures":1,"lastFailure":"ran out","holds":[],"results":[]}
                """)
            try """
                {"version":1,"runners":{"r1":{"agreed":7,"disputed":1,"errors":2}}}
                """.write(toFile: "\(leases)/.reputation.json", atomically: false, encoding: .utf8)
            do {
                let hub = try coordinator(dir)
                try await hub.recover()
                let held = try #require(try await hub.store.job("1-held"))
                #expect(held.state == .held && held.holds.map(\.holder) == ["r1"] && held.sha256 == "aa")
                #expect(try await hub.heartbeat("1-held", by: "r1").holder == "r1", "the runner keeps its lease")
                let waiting = try #require(try await hub.claim(for: "r2", accepting: { _ in true }))
                #expect(waiting.id == "2-waiting" && waiting.attempt == 2)
                let record = try await hub.store.runnerRecord("r1")
                #expect(record.agreed == 7 && record.disputed == 1 && record.errors == 2)
                #expect(!FileSystem.exists("\(leases)/1-held/lease.json") && FileSystem.exists("\(leases)/1-held/lease.json.imported"))
                #expect(FileSystem.exists("\(leases)/.reputation.json.imported"))
            }
            // A second start imports nothing again, even if an old file came back.
            try FileManager.default.copyItem(atPath: "\(leases)/.reputation.json.imported", toPath: "\(leases)/.reputation.json")
            let again = try coordinator(dir)
            try await again.recover()
            #expect(try await again.store.runnerRecord("r1").counts == [7, 1, 2])
            #expect(try await again.store.jobs(in: [.held]).map(\.id) == ["1-held", "2-waiting"])
        }
    }
}
