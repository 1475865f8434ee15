import ConstruirSystem
import Foundation
import JobModel
import Testing
import TestSupport
@testable import Archive

/// A secrets job's job_output.txt, redacted in the extracted output and in the kept archive;
/// every other entry kept as it was.
@Suite struct OutputRedactionTests {
    let secrets: [(name: String, value: String)] = [("TOKEN", "hunter2-token")]

    private func extract(_ archive: String, to directory: String) throws -> ExtractionSummary {
        try OutputExtractor.extract(disk: archive, to: directory, limits: ExtractionLimits())
    }

    @Test func anArchiveWithTheValueIsRewrittenWithEveryOtherEntryKept() async throws {
        try await withTemporaryDirectory { dir in
            let archive = "\(dir)/output.tar.xz"
            try writeTarXZ([
                TarEntry("sub", .directory, mode: 0o750),
                .file("sub/tool", "binary hunter2-token stays", mode: 0o755),
                TarEntry("sub/link", .symlink("tool")),
                TarEntry("sub/same", .hardlink("sub/tool")),
                .file("job_output.txt", "start\nthe token is hunter2-token\nend hunter2-token\n"),
            ], to: archive)
            _ = try extract(archive, to: "\(dir)/output")
            let replaced = try OutputRedaction.redact(output: "\(dir)/output", archive: archive, secrets: secrets,
                                                      maxDecompressedBytes: 1 << 30)
            #expect(replaced == 4, "two in the extracted file, two in the archive")
            let redacted = "start\nthe token is [secret TOKEN]\nend [secret TOKEN]\n"
            #expect(try String(contentsOfFile: "\(dir)/output/job_output.txt", encoding: .utf8) == redacted)
            // The rewritten archive extracts to the same tree, with the redacted file.
            _ = try extract(archive, to: "\(dir)/again")
            #expect(try String(contentsOfFile: "\(dir)/again/job_output.txt", encoding: .utf8) == redacted)
            #expect(try String(contentsOfFile: "\(dir)/again/sub/tool", encoding: .utf8) == "binary hunter2-token stays",
                    "only job_output.txt is redacted")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(dir)/again/sub/link") == "tool")
            var tool = stat(), same = stat(), sub = stat()
            #expect(stat("\(dir)/again/sub/tool", &tool) == 0 && stat("\(dir)/again/sub/same", &same) == 0 && stat("\(dir)/again/sub", &sub) == 0)
            #expect(tool.st_ino == same.st_ino, "the hardlink is one")
            #expect(tool.st_mode & 0o777 == 0o755 && sub.st_mode & 0o777 == 0o750)
            #expect(!FileSystem.exists("\(archive).redacting") && !FileSystem.exists("\(archive).entry"))
        }
    }

    @Test func aCleanArchiveKeepsItsBytes() async throws {
        try await withTemporaryDirectory { dir in
            let archive = "\(dir)/output.tar.xz"
            try writeTarXZ([.file("job_output.txt", "nothing to hide\n"), .file("a", "hunter2-token")], to: archive)
            let before = try Data(contentsOf: URL(fileURLWithPath: archive))
            _ = try extract(archive, to: "\(dir)/output")
            #expect(try OutputRedaction.redact(output: "\(dir)/output", archive: archive, secrets: secrets, maxDecompressedBytes: 1 << 30) == 0)
            #expect(try Data(contentsOf: URL(fileURLWithPath: archive)) == before)
        }
    }
}
