import ConstruirSystem
import Foundation
import JobModel
import Logging
import Testing
import TestSupport
import VMHost
import XZ
import Archive
@testable import Runner

/// The warm pool's bookkeeping with a fake hypervisor: which VMs it boots, which a job may
/// take, the budget, and replacement. Real VMs are in WarmIntegrationTests.
@Suite struct WarmPoolTests {
    /// A pool over build image 0 (tiny files with true sha256 values) of guest `protocol`.
    struct Fixture {
        let dir: String
        let hypervisor: FakeHypervisor
        let digest: String

        /// Warm guests hang (they wait for a job that, in these tests, never tells them to go);
        /// a cold VM's guest finishes.
        init(_ dir: String, protocol: Int = BuildImage.warmProtocol) throws {
            self.dir = dir
            hypervisor = FakeHypervisor { $0.name.hasPrefix("construir-warm-") ? .hangs : .finishes(exitCode: 0) }
            let image = "\(dir)/images/0"
            try FileManager.default.createDirectory(atPath: image, withIntermediateDirectories: true)
            var files: [String: String] = [:]
            for (name, text) in ["vmlinux": "kernel", "initrd.img": "initramfs"] {
                try text.write(toFile: "\(image)/\(name)", atomically: true, encoding: .utf8)
                files[name] = try BuildImage.sha256(ofFile: "\(image)/\(name)")
            }
            let manifest = BuildImage.Manifest(index: 0, description: "fake", protocol: `protocol`, kernel: "vmlinux",
                                               initrd: "initrd.img", rootfs: nil, cmdline: "console=ttyS0", files: files)
            try JSONEncoder().encode(manifest).write(to: URL(fileURLWithPath: "\(image)/image.json"))
            digest = try ImageStore(root: "\(dir)/images").image(0).verifiedDigest()
        }

        var options: RunnerOptions { RunnerOptions(timeout: .seconds(30), memoryMiB: 256, cpus: 1, acceleration: .tcg) }

        func pool(perImage: Int = 1, maxMachines: Int = 4, maxAge: Duration = .seconds(3600), maxCopyBytes: Int64 = 256 << 20) -> WarmPool {
            var policy = WarmPolicy(perImage: perImage, maxAge: maxAge, maxMachines: maxMachines)
            policy.maxCopyBytes = maxCopyBytes
            return WarmPool(policy: policy,
                            directory: "\(dir)/warm", images: ImageStore(root: "\(dir)/images"), hypervisor: hypervisor,
                            options: options, digests: ImageDigestCache(), logger: Logger(label: "warm-test"),
                            record: ("\(dir)/warm.json", "test.1"))
        }

        /// A claimed job, its file padded to 1 MiB as `jobs/make-job.sh` does, for an executor.
        func claimedJob(_ name: String) throws -> ClaimedJob {
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            let queue = try JobQueue(queueDirectory: "\(dir)/queue", stateDirectory: "\(dir)/queue/.construir")
            let writer = try JobImageWriter(path: "\(dir)/queue/\(name)_i0.tar.xz", xz: XZWriter.Options(preset: 0))
            try writer.appendFile(path: Array("job/construir".utf8), contents: Array("echo hi\n".utf8), mode: 0o755, modificationTime: 0)
            try writer.finish()
            #expect(truncate("\(dir)/queue/\(name)_i0.tar.xz", 1 << 20) == 0)
            let identity = try RunnerIdentity.acquire(stateDirectory: "\(dir)/queue/.construir")
            let jobName = try #require(JobName(fileName: "\(name)_i0.tar.xz"))
            return try #require(try queue.claim(jobName, by: identity))
        }
    }

    @Test func aJobTakesOnlyAVMOfItsImageDigestAndAtLeastItsMemoryAndCPUs() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            let pool = fixture.pool(perImage: 2)
            await pool.maintain()
            #expect(pool.snapshot.count == 2)
            #expect(fixture.hypervisor.started.allSatisfy { $0.hasPrefix("construir-warm-") })
            let configuration = try #require(fixture.hypervisor.startedConfigurations.first)
            #expect(configuration.commandLine.hasSuffix(" construir.warm=1"))
            #expect(configuration.disks.map(\.serial) == ["construir-job", "construir-output", "construir-status", "construir-config", "construir-stages"])
            #expect(configuration.disks.map(\.readOnly) == [true, false, false, true, true])
            #expect(try FileSystem.size(of: configuration.disks[1].path) == WarmMachine.idleOutputSize)

            #expect(pool.take(image: 1, digest: fixture.digest, memoryMiB: 256, cpus: 1) == nil, "another image")
            #expect(pool.take(image: 0, digest: String(repeating: "0", count: 64), memoryMiB: 256, cpus: 1) == nil, "another digest")
            #expect(pool.take(image: 0, digest: fixture.digest, memoryMiB: 257, cpus: 1) == nil, "more memory")
            #expect(pool.take(image: 0, digest: fixture.digest, memoryMiB: 256, cpus: 2) == nil, "more CPUs")
            let taken = try #require(pool.take(image: 0, digest: fixture.digest, memoryMiB: 128, cpus: 1))
            #expect(!pool.snapshot.contains { $0.domain == taken.name }, "a VM is handed out once")
            #expect(pool.snapshot.count == 1)
        }
    }

    @Test func aJobHandedOverGetsTheWarmVMAndItsDisksAndALargerJobBootsCold() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            let pool = fixture.pool(maxCopyBytes: 512 << 10)
            await pool.maintain()
            let vm = try #require(pool.snapshot.first)
            let executor = JobExecutor(images: ImageStore(root: "\(dir)/images"), hypervisor: fixture.hypervisor,
                                       options: fixture.options, logger: Logger(label: "warm-test"), warm: pool)

            // Larger than the copy limit: cold, and the warm VM stays for the next job.
            let large = try fixture.claimedJob("large")
            guard case .finished(let cold) = await executor.execute(large).outcome else { Issue.record("interrupted"); return }
            #expect(cold.status == .passed && cold.warm == nil, "\(cold.error ?? "")")
            #expect(fixture.hypervisor.started.contains(JobDomain.name(jobID: large.id)))
            #expect(pool.snapshot.map(\.domain) == [vm.domain])
        }
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            var options = fixture.options
            options.timeout = .milliseconds(300)
            let pool = fixture.pool()
            await pool.maintain()
            let vm = try #require(pool.snapshot.first)
            let executor = JobExecutor(images: ImageStore(root: "\(dir)/images"), hypervisor: fixture.hypervisor,
                                       options: options, logger: Logger(label: "warm-test"), warm: pool)
            let job = try fixture.claimedJob("small")
            guard case .finished(let result) = await executor.execute(job).outcome else { Issue.record("interrupted"); return }
            // The fake warm guest never takes the job (it hangs): the timeout ends it, on the warm VM.
            #expect(result.status == .timedOut, "\(result.error ?? "")")
            #expect(result.warm?.domain == vm.domain)
            #expect(pool.snapshot.isEmpty, "a VM is handed over once")
            let machine = try #require(fixture.hypervisor.startedConfigurations.first)
            #expect(machine.name == vm.domain)
            #expect(fixture.hypervisor.startedConfigurations.count == 1, "no cold VM was booted")
            #expect(!fixture.hypervisor.running.contains(vm.domain), "the timed-out warm VM is destroyed")
            let resized = fixture.hypervisor.resized
            #expect(resized.count == 1 && resized.first?.domain == vm.domain && resized.first?.target == "vdb"
                    && resized.first?.bytes == result.limits?.outputSize, "the output disk grown to the job's size is the signal: \(resized)")
            #expect(!FileSystem.exists("\(dir)/warm/\(vm.domain)"), "the warm VM's files are removed after its job")
            #expect(FileSystem.exists("\(job.directory)/console.log"), "its console log moved into the job's directory")
        }
    }

    @Test func warmVMsUseOnlyWhatRunningJobsLeaveOfTheBudget() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            let pool = fixture.pool(perImage: 3, maxMachines: 3)
            pool.jobStarted()
            await pool.maintain()
            #expect(pool.snapshot.count == 2, "3 VMs at most, one of them a running job's")

            // Two jobs that boot cold: warm VMs give way, oldest first.
            pool.jobStarted()
            pool.jobStarted()
            pool.makeRoom()
            #expect(pool.snapshot.isEmpty)
            await pool.maintain()
            #expect(fixture.hypervisor.running.isEmpty, "evicted VMs are destroyed")

            pool.jobFinished()
            await pool.maintain()
            #expect(pool.snapshot.count == 1)
        }
    }

    @Test func aPoolHoldingBackKeepsNoVMAndStaleOnesAreReplaced() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            let pool = fixture.pool(maxAge: .zero)
            await pool.maintain()
            let first = try #require(pool.snapshot.first)
            await pool.maintain()
            let second = try #require(pool.snapshot.first)
            #expect(first.domain != second.domain, "a VM older than its maximum age is replaced")
            #expect(!fixture.hypervisor.running.contains(first.domain))
            #expect(!FileSystem.exists("\(dir)/warm/\(first.domain)"), "its files are removed")

            pool.holdBack(true)
            await pool.maintain()
            #expect(pool.snapshot.isEmpty)
            #expect(fixture.hypervisor.running.isEmpty)
        }
    }

    @Test func imagesOfAnOlderProtocolAreNotKeptWarm() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir, protocol: 2)
            let pool = fixture.pool()
            await pool.maintain()
            #expect(pool.snapshot.isEmpty)
            #expect(fixture.hypervisor.started.isEmpty)
        }
    }

    @Test func theRunTurnsTheRecordOnAndOffAndClearsALeftDirectory() async throws {
        try await withTemporaryDirectory { dir in
            let fixture = try Fixture(dir)
            try FileManager.default.createDirectory(atPath: "\(dir)/warm/construir-warm-old-1", withIntermediateDirectories: true)
            let pool = fixture.pool()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await pool.run() }
                let deadline = ContinuousClock.now + .seconds(60)
                while !FileSystem.exists("\(dir)/warm.json"), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                let record = try RunnerWarmVMs.decode(Data(contentsOf: URL(fileURLWithPath: "\(dir)/warm.json")))
                #expect(record.runner == "test.1")
                #expect(record.vms.count == 1 && record.vms.first?.state == .booting && record.vms.first?.memoryMiB == 256)
                #expect(!FileSystem.exists("\(dir)/warm/construir-warm-old-1"), "a previous life's files are removed")
                group.cancelAll()
            }
            #expect(!FileSystem.exists("\(dir)/warm.json"), "no record once the pool stopped")
            #expect(fixture.hypervisor.running.isEmpty)
            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/warm").isEmpty)
        }
    }
}
