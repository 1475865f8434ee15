import Foundation
import Logging
import Testing
import TestSupport
@testable import JobModel
@testable import Runner
import VMHost

extension VMSuites {
/// Boots real VMs from build image 0 through libvirt's embedded QEMU driver (TCG here, KVM on
/// a host that has it). Needs `images/build-image0.sh` to have been run.
@Suite(.serialized) struct RunnerIntegrationTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path
    static let imagesDirectory = "\(repository)/images"

    private func requireImage() throws {
        try requireImage0()
    }

    /// Packs `jobs/NAME` with the project's own script into `destination`.
    private func pack(_ job: String, to destination: String) async throws {
        let (status, _) = try await runTool(["\(Self.repository)/jobs/make-job.sh", "\(Self.repository)/jobs/\(job)", destination])
        guard status == 0 else { throw ConstruirTestError("make-job.sh failed for \(job)") }
    }

    /// Runs a runner over `queue` until it is empty.
    private func runQueue(in dir: String, timeout: Duration) async throws {
        try await makeTestRunner(in: dir, images: Self.imagesDirectory, timeout: timeout).run()
    }

    private func result(_ path: String) throws -> JobResult { try readResult(path) }

    private func imageHashes() throws -> [String: String] {
        var hashes: [String: String] = [:]
        for file in ["vmlinux", "initrd.img", "image.json"] {
            hashes[file] = try BuildImage.sha256(ofFile: "\(Self.imagesDirectory)/0/\(file)")
        }
        return hashes
    }

    @Test func jobsRunInAVMAndLandInDone() async throws {
        try requireImage()
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            try await pack("hello", to: "\(dir)/queue/hello_i0.tar.xz")
            try await pack("fail", to: "\(dir)/queue/fail_i0.tar.xz")
            try await pack("hello", to: "\(dir)/queue/ghost_i9.tar.xz")
            try Data("not a job".utf8).write(to: URL(fileURLWithPath: "\(dir)/queue/junk_i0.tar.xz"))
            let submitted = try BuildImage.sha256(ofFile: "\(dir)/queue/hello_i0.tar.xz")
            let imageBefore = try imageHashes()

            try await runQueue(in: dir, timeout: .seconds(180))

            // Every job left the queue and landed in done/ exactly once.
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/queue").filter { !$0.hasPrefix(".") }.isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/queue/.construir/running").isEmpty)
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/done")) == ["hello", "fail", "ghost", "junk"])

            // hello: passed, its file came back, the job image is kept as submitted.
            let hello = try result("\(dir)/done/hello")
            #expect(hello.status == .passed, "\(hello)")
            #expect(hello.exitCode == 0)
            #expect(hello.error == nil)
            #expect(hello.image?.index == 0)
            #expect(hello.image?.sha256?.count == 64)
            #expect((hello.durations.boot ?? 0) > 0)
            #expect(hello.sizes.outputArchive ?? 0 > 0)
            let greeting = try String(contentsOfFile: "\(dir)/done/hello/output/hello.txt", encoding: .utf8)
            #expect(greeting.contains("hello from construir"))
            #expect(try BuildImage.sha256(ofFile: "\(dir)/done/hello/job.tar.xz") == submitted)
            let console = try String(contentsOfFile: "\(dir)/done/hello/console.log", encoding: .utf8)
            #expect(console.contains("construir-agent"))
            // The guest kernel parses no partition table on the submitter's disk (a Linux with
            // its parsers prints `Dev vdc: unable to read RDB block 8` and one line per disk).
            #expect(!console.contains("RDB"), "\(console)")
            #expect(!console.split(separator: "\n").contains { $0.range(of: #"^\s*vd[a-z]: "#, options: .regularExpression) != nil },
                    "\(console)")
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/done/hello/output.img"))

            // fail: exit code 3 comes back; the agent's fallback output holds the job's log.
            let fail = try result("\(dir)/done/fail")
            #expect(fail.status == .failed)
            #expect(fail.exitCode == 3)
            let log = try String(contentsOfFile: "\(dir)/done/fail/output/job_output.txt", encoding: .utf8)
            #expect(!log.isEmpty)

            // ghost asked for image 9: error naming the images that exist, still in done/.
            let ghost = try result("\(dir)/done/ghost")
            #expect(ghost.status == .error)
            #expect(ghost.error?.contains("available images: 0") == true)
            #expect(FileManager.default.fileExists(atPath: "\(dir)/done/ghost/job.tar.xz"))

            // junk is not xz: rejected without booting.
            let junk = try result("\(dir)/done/junk")
            #expect(junk.status == .rejected)
            #expect(junk.durations.vm == nil)

            // The build image was only read.
            #expect(try imageHashes() == imageBefore)
        }
    }

    @Test func aJobThatNeverPowersOffTimesOut() async throws {
        try requireImage()
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            try await pack("forever", to: "\(dir)/queue/forever_i0.tar.xz")
            let started = ContinuousClock.now
            try await runQueue(in: dir, timeout: .seconds(20))
            let elapsed = ContinuousClock.now - started
            let forever = try result("\(dir)/done/forever")
            #expect(forever.status == .timedOut)
            #expect(forever.exitCode == nil)
            #expect(forever.error?.contains("timed out after 20s") == true)
            #expect(elapsed < .seconds(120))
            let console = try String(contentsOfFile: "\(dir)/done/forever/console.log", encoding: .utf8)
            #expect(console.contains("construir-agent"))
            // No domain is left running.
            #expect(try SharedHypervisor.instance.get().runningDomainNamesNow().isEmpty)
        }
    }
}
}

struct ConstruirTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
