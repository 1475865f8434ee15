import Archive
import ConstruirSystem
import Foundation
import JobModel
import Logging
import Testing
import TestSupport
import XZ
@testable import Runner

/// Tags on a queue runners share: a job is left for a runner that has every tag it asks for.
@Suite struct RunnerTagsTests {
    /// A job file in `queue` whose manifest is `manifest`.
    private func queue(_ name: String, manifest: String?, in queue: String) throws {
        let staging = "\(queue)/.\(name).part"
        let writer = try JobImageWriter(path: staging, xz: XZWriter.Options(preset: 0))
        try writer.appendFile(path: Array("job/construir".utf8), contents: Array("echo \(name)\n".utf8), mode: 0o755, modificationTime: 0)
        if let manifest {
            try writer.appendFile(path: Array(JobManifest.path.utf8), contents: Array(manifest.utf8), mode: 0o644, modificationTime: 0)
        }
        try writer.finish()
        try FileSystem.renameNoReplace(staging, "\(queue)/\(name)_i0.tar.xz")
    }

    private func source(_ dir: String, tags: RunnerTags?) throws -> QueueDirectorySource {
        let state = "\(dir)/queue/.construir"
        return QueueDirectorySource(queue: try JobQueue(queueDirectory: "\(dir)/queue", stateDirectory: state),
                                    done: try DoneStore(directory: "\(dir)/done"), identity: try RunnerIdentity.acquire(stateDirectory: state),
                                    tags: tags, logger: Logger(label: "tags-test"))
    }

    @Test func aJobIsLeftForARunnerWithItsTags() async throws {
        try await withTemporaryDirectory { dir in
            for directory in ["\(dir)/queue", "\(dir)/done"] { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
            try queue("gpu", manifest: "tags: [gpu]\n", in: "\(dir)/queue")
            let plain = try source(dir, tags: try RunnerTags.make(acceleration: .tcg, own: []))
            #expect(await plain.claim(slot: 1, prepareTakeOver: { _ in }) == nil)
            #expect(await plain.hasWaitingJobs() == false, "a job it cannot take is no work for it")
            #expect(FileSystem.exists("\(dir)/queue/gpu_i0.tar.xz"), "the job stays queued")

            try queue("any", manifest: nil, in: "\(dir)/queue")
            #expect(await plain.claim(slot: 1, prepareTakeOver: { _ in })?.name.fileName == "any_i0.tar.xz", "a job without tags is anyone's")

            let gpu = try source(dir, tags: try RunnerTags.make(acceleration: .tcg, own: ["gpu"]))
            #expect(await gpu.hasWaitingJobs())
            #expect(await gpu.claim(slot: 1, prepareTakeOver: { _ in })?.name.fileName == "gpu_i0.tar.xz")

            // The automatic tags: a job for KVM machines is left by a TCG runner.
            try queue("kvm", manifest: "tags: [\"accel:kvm\"]\n", in: "\(dir)/queue")
            #expect(await gpu.claim(slot: 1, prepareTakeOver: { _ in }) == nil)
            let kvm = try source(dir, tags: try RunnerTags.make(acceleration: .kvm, own: []))
            #expect(await kvm.claim(slot: 1, prepareTakeOver: { _ in })?.name.fileName == "kvm_i0.tar.xz")
        }
    }

    @Test func aRunnerHasItsMachinesTagsAndCannotGiveItselfReservedOnes() throws {
        let tags = try RunnerTags.make(acceleration: .tcg, own: ["gpu", "fast-disk"], cpus: 8, memoryBytes: 24 << 30 + 5, architecture: "x86_64")
        #expect(tags.tags == ["arch:x86_64", "accel:tcg", "cpus:8", "memory:24G", "gpu", "fast-disk"])
        for reserved in ["owner:alice", "accel:kvm", "cpus:64", "memory:1024G", "arch:aarch64"] {
            #expect { try RunnerTags.make(acceleration: .tcg, own: [reserved]) } throws: { "\($0)".contains("not by --tag") }
        }
        #expect { try RunnerTags.make(acceleration: .tcg, own: ["has space"]) } throws: { "\($0)".contains("is not a tag") }
        #expect(try JobManifest.parse(Array("tags: gpu\n".utf8)).tags == ["gpu"])
        #expect(try JobManifest.parse(Array("tags: [gpu, gpu, \"owner:alice\"]\n".utf8)).tags == ["gpu", "owner:alice"])
        #expect { try JobManifest.parse(Array("tags: [\"-x\"]\n".utf8)) } throws: { "\($0)".contains("is not a tag") }
        #expect(!HostName.machine().isEmpty && HostName.machine() != "unknown")
    }
}
