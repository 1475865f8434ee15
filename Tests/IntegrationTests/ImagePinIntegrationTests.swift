import Foundation
import Testing
import TestSupport
@testable import JobModel
@testable import Runner
import VMHost

extension VMSuites {
/// A job pinned with `image_digest` runs only on the image with that digest: a runner whose
/// image N has other bytes (say, built a week later from newer Debian packages) rejects it
/// before booting, naming both digests.
@Suite(.serialized) struct ImagePinIntegrationTests {
    @Test func aJobPinnedToAnotherImageDigestIsRejectedNamingBoth() async throws {
        try requireImage0()
        let images = "\(RunnerIntegrationTests.repository)/images"
        let actual = try ImageStore(root: images).image(0).digest()
        let other = String(repeating: "0", count: 64)
        try await withTemporaryDirectory { dir in
            let queue = "\(dir)/queue"
            try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
            let jobs = JobFactory(directory: dir)
            let script = "echo pinned > /job/pinned.txt; tar -C /job -cJf /dev/sdb pinned.txt\n"
            try await jobs.make("\(queue)/elsewhere_i0.tar.xz", script: script, files: ["job/construir.yml": "image_digest: \(other)\n"])
            try await jobs.make("\(queue)/here_i0.tar.xz", script: script, files: ["job/construir.yml": "image_digest: \(actual)\n"])

            try await makeTestRunner(in: dir, images: images, timeout: .seconds(120)).run()

            let elsewhere = try readResult("\(dir)/done/elsewhere")
            #expect(elsewhere.status == .rejected, "\(elsewhere.status) \(elsewhere.error ?? "")")
            #expect(elsewhere.error?.contains("the job expects \(other)") == true, "\(elsewhere.error ?? "no error")")
            #expect(elsewhere.error?.contains("image 0 is \(actual)") == true, "\(elsewhere.error ?? "no error")")
            #expect(elsewhere.durations.vmStart == nil, "a rejected job must not boot")
            #expect(elsewhere.image?.sha256 == actual)

            let here = try readResult("\(dir)/done/here")
            #expect(here.status == .passed, "\(here.status) \(here.error ?? "")")
            #expect(here.image?.sha256 == actual)
            #expect(try String(contentsOfFile: "\(dir)/done/here/output/pinned.txt", encoding: .utf8) == "pinned\n")
        }
    }
}
}
