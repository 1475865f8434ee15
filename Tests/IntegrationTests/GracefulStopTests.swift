import Foundation
import Logging
import Testing
import TestSupport
@testable import JobModel
@testable import Runner
import VMHost

extension VMSuites {
/// Stopping the runner while a VM runs returns the job to the queue: it is never lost.
@Suite(.serialized) struct GracefulStopTests {
    @Test func stoppingTheRunnerReturnsTheRunningJobToTheQueue() async throws {
        let repository = RunnerIntegrationTests.repository
        try requireImage0()
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            let (status, _) = try await runTool(["\(repository)/jobs/make-job.sh", "\(repository)/jobs/forever", "\(dir)/queue/forever_i0.tar.xz"])
            try #require(status == 0)
            let submitted = try BuildImage.sha256(ofFile: "\(dir)/queue/forever_i0.tar.xz")
            let hypervisor = try SharedHypervisor.instance.get()
            let runner = try makeTestRunner(in: dir, images: "\(repository)/images", timeout: .seconds(600),
                                            memoryMiB: 256, exitWhenIdle: false)
            let task = Task { try await runner.run() }

            // Wait until the guest agent has printed to the console: the job is really running.
            let running = "\(dir)/queue/.construir/running"
            let deadline = ContinuousClock.now + .seconds(120)
            var booted: String?
            while booted == nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
                for id in (try? FileManager.default.contentsOfDirectory(atPath: running)) ?? [] {
                    let console = (try? String(contentsOfFile: "\(running)/\(id)/console.log", encoding: .utf8)) ?? ""
                    if console.contains("running /job/construir") { booted = id }
                }
            }
            let id = try #require(booted, "the forever job never started")
            #expect(hypervisor.runningDomainNamesNow().contains("construir-\(id)"))

            task.cancel()  // what a graceful shutdown does to the runner's work
            try await task.value

            #expect(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/queue").filter { !$0.hasPrefix(".") } == ["forever_i0.tar.xz"])
            #expect(try BuildImage.sha256(ofFile: "\(dir)/queue/forever_i0.tar.xz") == submitted)
            #expect(try FileManager.default.contentsOfDirectory(atPath: running).isEmpty)
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(dir)/done")) ?? []).isEmpty)
            #expect(!hypervisor.runningDomainNamesNow().contains("construir-\(id)"))
        }
    }
}
}
