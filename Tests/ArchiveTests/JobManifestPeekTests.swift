import ConstruirSystem
import Foundation
import JobModel
import Testing
import TestSupport
import XZ
@testable import Archive

/// Reading a queued job's manifest without decoding the rest of a large job.
@Suite struct JobManifestPeekTests {
    /// A job image at `path` with `entries` (path, contents) in that order.
    private func job(_ path: String, _ entries: [(String, [UInt8])]) throws {
        let writer = try JobImageWriter(path: path, xz: XZWriter.Options(preset: 0))
        for (name, contents) in entries {
            try writer.appendFile(path: Array(name.utf8), contents: contents, mode: 0o644, modificationTime: 0)
        }
        try writer.finish()
    }

    @Test func theManifestIsReadWhereItIsAndTheRestIsNot() async throws {
        try await withTemporaryDirectory { dir in
            let manifest = Array("tags: [gpu]\n".utf8)
            let script = Array("echo hi\n".utf8)
            let large = [UInt8](repeating: 0, count: 8 << 20)
            try job("\(dir)/first.tar.xz", [("job/construir", script), (JobManifest.path, manifest), ("repo/large", large)])
            #expect(JobManifestPeek.read("\(dir)/first.tar.xz", budget: 1 << 20) == .manifest(try JobManifest.parse(manifest)),
                    "found before the 8 MiB entry, within a 1 MiB budget")
            try job("\(dir)/late.tar.xz", [("repo/large", large), (JobManifest.path, manifest)])
            #expect(JobManifestPeek.read("\(dir)/late.tar.xz", budget: 1 << 20) == .unknown, "past the budget: the claim's inspection decides")
            #expect(JobManifestPeek.read("\(dir)/late.tar.xz", budget: 64 << 20) == .manifest(try JobManifest.parse(manifest)))
            try job("\(dir)/none.tar.xz", [("job/construir", script)])
            #expect(JobManifestPeek.read("\(dir)/none.tar.xz") == .none)
            try "not xz".write(toFile: "\(dir)/bad.tar.xz", atomically: false, encoding: .utf8)
            #expect(JobManifestPeek.read("\(dir)/bad.tar.xz") == .unknown)
        }
    }
}
