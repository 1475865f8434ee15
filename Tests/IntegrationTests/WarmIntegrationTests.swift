import ConstruirSystem
import Foundation
import JobModel
import Testing
import TestSupport
import VMHost
@testable import Runner

extension VMSuites {
/// Warm VMs (`run --warm`): jobs handed over to VMs booted before them, in real VMs.
@Suite(.serialized) struct WarmIntegrationTests {
    static let repository = VMSuites.RunnerIntegrationTests.repository

    /// Leaves a marker in /tmp, in the root (the overlay, on image 1) and in /root, writes it
    /// into its output, and reports whether any marker of an earlier job is visible: in those
    /// places, or in the first MiB of its output and job disks. The marker is assembled at run
    /// time, so the job's own bytes never hold it.
    static let traceScript = """
        #!/bin/bash
        set -uo pipefail
        marker="TRACE-$(( 6 * 7 ))-$1"
        found=no
        for file in /tmp/warm-trace /warm-trace /root/warm-trace; do
            [ -e "$file" ] && { echo "found $file: $(cat "$file")"; found=yes; }
        done
        head -c 1048576 /dev/sdb | grep -qa "TRACE-42-" && { echo "found a marker on the output disk"; found=yes; }
        head -c 1048576 /dev/construir/job | grep -qa "TRACE-42-" && { echo "found a marker on the job disk"; found=yes; }
        for file in /tmp/warm-trace /warm-trace /root/warm-trace; do echo "$marker" > "$file"; done
        mkdir -p /tmp/out
        echo "$marker" > /tmp/out/marker.txt
        echo "found=$found" > /tmp/out/found.txt
        tar -C /tmp/out -cJf /dev/sdb .
        echo "left $marker, found=$found"
        """

    private func wait(_ what: String, seconds: Int = 240, until condition: () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while try !condition() {
            guard ContinuousClock.now < deadline else { throw ConstruirTestError("waited \(seconds) s for \(what)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    private func warmVMs(_ dir: String) -> [RunnerWarmVMs.VM] {
        RunnerWarmVMs.readAll(in: "\(dir)/queue/.construir/runners").values.flatMap(\.vms)
    }

    private func submit(_ jobs: JobFactory, _ dir: String, _ name: String, script: String, files: [String: String] = [:]) async throws {
        try await jobs.make("\(dir)/\(name).tar.xz", script: script, files: files)
        try FileSystem.renameNoReplace("\(dir)/\(name).tar.xz", "\(dir)/queue/\(name).tar.xz")
    }

    /// The result of job file `NAME_iN`, in done/NAME.
    private func waitForResult(_ dir: String, _ file: String) async throws -> JobResult {
        let done = "\(dir)/done/\(file.split(separator: "_").dropLast().joined(separator: "_"))"
        try await wait("\(file)'s result") { FileSystem.exists("\(done)/result.json") }
        return try readResult(done)
    }

    /// Image 1 (a root disk under an overlay): two jobs in a row on warm VMs, where the second
    /// finds nothing of the first; then a job asking for more memory than a warm VM has, which
    /// boots cold and passes.
    @Test func warmJobsPassFindNoTraceOfEachOtherAndABiggerJobRunsCold() async throws {
        guard FileManager.default.fileExists(atPath: "\(Self.repository)/images/1/image.json") else {
            throw ConstruirTestError("build image 1 is missing: run `construir image build 1` (scripts/test does)")
        }
        let hypervisor = try SharedHypervisor.instance.get()
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            let jobs = JobFactory(directory: dir)
            let runner = try makeTestRunner(in: dir, images: "\(Self.repository)/images", timeout: .seconds(600), exitWhenIdle: false,
                                            warm: WarmPolicy(perImage: 1, maxMachines: 2, images: [1]))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await runner.run() }
                try await wait("a ready warm VM") { warmVMs(dir).contains { $0.state == .ready && $0.image == 1 } }
                let first = try #require(warmVMs(dir).first)
                #expect(first.memoryMiB == 512)
                #expect(hypervisor.runningDomainNamesNow().contains(first.domain))

                try await submit(jobs, dir, "first_i1", script: Self.traceScript.replacingOccurrences(of: "$1", with: "first"))
                let firstResult = try await waitForResult(dir, "first_i1")
                #expect(firstResult.status == .passed, "\(firstResult.error ?? "")")
                #expect(firstResult.warm?.domain == first.domain)
                #expect(try String(contentsOfFile: "\(dir)/done/first/output/found.txt", encoding: .utf8) == "found=no\n")
                #expect(try String(contentsOfFile: "\(dir)/done/first/output/marker.txt", encoding: .utf8) == "TRACE-42-first\n")
                // A warm VM is destroyed after its job, as every VM (the runner finishes QEMU's exit after publishing).
                try await wait("the first warm VM to be destroyed", seconds: 30) { !hypervisor.runningDomainNamesNow().contains(first.domain) }

                try await wait("a new ready warm VM") { warmVMs(dir).contains { $0.state == .ready && $0.domain != first.domain } }
                try await submit(jobs, dir, "second_i1", script: Self.traceScript.replacingOccurrences(of: "$1", with: "second"))
                let secondResult = try await waitForResult(dir, "second_i1")
                #expect(secondResult.status == .passed, "\(secondResult.error ?? "")")
                #expect(secondResult.warm != nil && secondResult.warm?.domain != first.domain)
                let console = try String(contentsOfFile: "\(dir)/done/second/console.log", encoding: .utf8)
                #expect(try String(contentsOfFile: "\(dir)/done/second/output/found.txt", encoding: .utf8) == "found=no\n", "\(console)")
                #expect(console.contains("warm: job handed over"))

                try await submit(jobs, dir, "bigger_i1", script: "#!/bin/bash\necho memory $(awk '/MemTotal/ {print $2}' /proc/meminfo)\n",
                                 files: ["job/construir.yml": "memory: 768M\n"])
                let bigger = try await waitForResult(dir, "bigger_i1")
                #expect(bigger.status == .passed, "\(bigger.error ?? "")")
                #expect(bigger.warm == nil, "a job asking for more memory than the warm VM has boots cold")
                #expect(bigger.limits?.memoryMiB == 768)
                group.cancelAll()
            }
            #expect(hypervisor.runningDomainNamesNow().filter { $0.hasPrefix(JobDomain.prefix) }.isEmpty, "no VM is left at stop")
            #expect(warmVMs(dir).isEmpty)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/queue/.construir/warm/\(runner.identity.id)")) ?? []).isEmpty)
        }
    }

    /// A copy of image 0 rebuilt (new initramfs bytes, new image.json) while a VM of it is warm:
    /// the VM is replaced, and the next job runs on the new image.
    @Test func aRebuiltImageReplacesItsWarmVMs() async throws {
        try requireImage0()
        let hypervisor = try SharedHypervisor.instance.get()
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(dir)/images", withIntermediateDirectories: true)
            let (copied, log) = try await runTool(["cp", "-r", "\(Self.repository)/images/0", "\(dir)/images/0"])
            #expect(copied == 0, "\(log)")
            let jobs = JobFactory(directory: dir)
            let runner = try makeTestRunner(in: dir, images: "\(dir)/images", timeout: .seconds(600), exitWhenIdle: false,
                                            warm: WarmPolicy(perImage: 1, maxMachines: 2))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await runner.run() }
                try await wait("a ready warm VM") { warmVMs(dir).contains { $0.state == .ready } }
                let old = try #require(warmVMs(dir).first)

                // What a rebuild leaves: other initramfs bytes (zeros after a cpio archive are
                // padding the kernel skips) and an image.json with their digest, written last.
                let image = "\(dir)/images/0"
                let initrd = try #require(FileHandle(forWritingAtPath: "\(image)/initrd.img"))
                try initrd.seekToEnd()
                try initrd.write(contentsOf: Data(count: 512))
                try initrd.close()
                var manifest = try JSONDecoder().decode(BuildImage.Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: "\(image)/image.json")))
                manifest.files?["initrd.img"] = try BuildImage.sha256(ofFile: "\(image)/initrd.img")
                try JSONEncoder().encode(manifest).write(to: URL(fileURLWithPath: "\(image)/image.json"), options: .atomic)
                let newDigest = try ImageStore(root: "\(dir)/images").image(0).verifiedDigest()

                try await wait("the old warm VM to be replaced by a ready new one") {
                    let vms = warmVMs(dir)
                    return !vms.contains { $0.domain == old.domain } && vms.contains { $0.state == .ready }
                }
                #expect(!hypervisor.runningDomainNamesNow().contains(old.domain), "the stale VM is destroyed before it leaves the record")
                let replacement = try #require(warmVMs(dir).first)

                try await submit(jobs, dir, "after_i0", script: "#!/bin/bash\necho on the new image\n")
                let result = try await waitForResult(dir, "after_i0")
                #expect(result.status == .passed, "\(result.error ?? "")")
                #expect(result.image?.sha256 == newDigest)
                #expect(result.warm?.domain == replacement.domain)
                group.cancelAll()
            }
        }
    }

    /// The real binary, killed with SIGKILL while a VM is warm: its QEMU outlives it, and the
    /// next start of the runner kills it and removes its files.
    @Test func aRunnerKilledWhileVMsAreWarmLeavesNoQEMUAfterItsNextStart() async throws {
        try requireImage0()
        try await withTemporaryDirectory { dir in
            let (queue, done) = ("\(dir)/queue", "\(dir)/done")
            try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
            let arguments = ["--queue", queue, "--done", done, "--images", "\(Self.repository)/images",
                             "--memory", "256M", "--slots", "1", "--allow-root", "--warm-image", "0"]
            let runner = try RunnerProcess(arguments + ["--warm", "1"], log: "\(dir)/first.log")
            try await wait("a ready warm VM") { warmVMs(dir).contains { $0.state == .ready } }
            let domain = try #require(warmVMs(dir).first?.domain)
            runner.signal(SIGKILL)
            _ = await runner.wait(timeout: .seconds(30))
            #expect(StaleProcesses.qemuDomains(matching: { $0 == domain })[domain] != nil, "QEMU outlives the killed runner")

            let (status, log) = try await runTool([RunnerProcess.binary, "run"] + arguments + ["--warm", "0", "--exit-when-idle"])
            #expect(status == 0, "\(log)")
            #expect(StaleProcesses.qemuDomains(matching: { $0 == domain }).isEmpty, "the next start killed the warm VM's QEMU")
            let warmFiles = "\(queue)/.construir/warm"
            let left = (try? FileManager.default.subpathsOfDirectory(atPath: warmFiles)) ?? []
            #expect(left.filter { $0.contains("construir-warm") }.isEmpty, "\(left)")
        }
    }
}
}
