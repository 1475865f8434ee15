import Foundation
import JobModel
import Testing
import TestSupport
@testable import Runner

/// What inspection decides for a job with `secrets:`, before anything boots.
@Suite struct SecretsPlanTests {
    private func image(protocol version: Int, in dir: String) throws -> BuildImage {
        let manifest = BuildImage.Manifest(index: 0, description: "fake", protocol: version, kernel: "vmlinux",
                                           initrd: nil, rootfs: nil, cmdline: "console=ttyS0", files: nil)
        try JSONEncoder().encode(manifest).write(to: URL(fileURLWithPath: "\(dir)/image.json"))
        try Data("kernel".utf8).write(to: URL(fileURLWithPath: "\(dir)/vmlinux"))
        return try BuildImage(index: 0, directory: dir)
    }

    @Test func aJobGetsOnlyTheSecretsItNamesAndOnlyFromAnAgentThatTakesThem() async throws {
        try await withTemporaryDirectory { dir in
            let secrets = try RunnerSecrets(["TOKEN": "token-value", "OTHER": "other-value"])
            var manifest = JobManifest()
            manifest.secrets = ["TOKEN"]
            let current = try image(protocol: 4, in: dir)
            #expect(JobPlan.secretsProblem(manifest, secrets, image: current) == nil)
            #expect(JobPlan.secretsProblem(nil, nil, image: current) == nil, "a job without secrets needs none")
            let lacking = JobPlan.secretsProblem(manifest, try RunnerSecrets(["OTHER": "other-value"]), image: current)
            #expect(lacking?.contains("does not have: TOKEN") == true, "\(lacking ?? "")")
            #expect(JobPlan.secretsProblem(manifest, nil, image: current)?.contains("run --secrets") == true)
            let old = JobPlan.secretsProblem(manifest, secrets, image: try image(protocol: 3, in: dir))
            #expect(old?.contains("rebuild it") == true, "\(old ?? "")")

            let limits = EffectiveLimits(timeout: .seconds(60), memoryMiB: 256, cpus: 1, outputSize: 1 << 20)
            let plan = JobPlan(manifest: manifest, limits: limits, image: current, digest: "d", stageNonce: nil, secrets: secrets)
            #expect(plan.secrets.map(\.name) == ["TOKEN"])
            let script = String(decoding: (plan.secretsScript ?? []).filter { $0 != 0 }, as: UTF8.self)
            #expect(script == "export TOKEN='token-value'\nunset BASH_ENV\n")
            #expect((plan.secretsScript?.count ?? 0) % 4096 == 0, "a whole number of blocks")
        }
    }
}
