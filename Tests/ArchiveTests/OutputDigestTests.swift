import ConstruirSystem
import Foundation
import JobModel
import Testing
import TestSupport
@testable import Archive

/// The canonical output digest replicas are compared by: the same files give the same digest
/// whatever tar's order, timestamps or owners; any change a reader could see changes it.
@Suite struct OutputDigestTests {
    /// Writes `files` (path → contents) under a fresh directory and archives it with GNU tar's
    /// `options`; returns the archive's digest.
    private func digest(_ dir: String, _ files: [(String, String)], mode: String = "644", options: [String] = [],
                        extra: String = "") async throws -> String {
        let root = "\(dir)/\(UUID().uuidString)"
        for (path, contents) in files {
            let full = "\(root)/\(path)"
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try contents.write(toFile: full, atomically: false, encoding: .utf8)
            _ = try await runTool(["chmod", mode, full])
        }
        // Directory modes set explicitly: libarchive, extracting in another test of this process,
        // sets the umask to 0 for a moment, and a mode is part of the digest.
        _ = try await runTool(["bash", "-c", "cd \(root) && find . -type d -exec chmod 755 {} + && \(extra.isEmpty ? "true" : extra)"])
        _ = try await runTool(["tar", "-cJf", "\(root).tar.xz"] + options + ["-C", root, "."])
        return try OutputDigest.of(archive: "\(root).tar.xz")
    }

    @Test func orderTimesAndOwnersDoNotCountContentNamesModesAndLinksDo() async throws {
        try await withTemporaryDirectory { dir in
            let files = [("a.txt", "alpha"), ("sub/b.bin", "beta"), ("sub/deeper/c", "gamma")]
            let base = try await digest(dir, files)
            #expect(base.count == 64)
            #expect(try await digest(dir, files.reversed(), options: ["--sort=none"]) == base, "creation order")
            #expect(try await digest(dir, files, options: ["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner"]) == base,
                    "times and owners")
            #expect(try await digest(dir, [("a.txt", "alphA")] + files.dropFirst()) != base, "a changed byte")
            #expect(try await digest(dir, [("A.txt", "alpha")] + files.dropFirst()) != base, "a renamed file")
            #expect(try await digest(dir, files, mode: "755") != base, "a changed mode")
            #expect(try await digest(dir, files, extra: "ln -s a.txt link") != base, "an added symlink")
            #expect(try await digest(dir, files, extra: "ln -s a.txt link") == (try await digest(dir, files, extra: "ln -s a.txt link")))
            #expect(try await digest(dir, files, extra: "ln -s sub/b.bin link") != (try await digest(dir, files, extra: "ln -s a.txt link")),
                    "a link's target")
        }
    }

    /// Archives `files` under a fresh directory; returns the archive's path.
    private func archive(_ dir: String, _ files: [(String, String)]) async throws -> String {
        let root = "\(dir)/\(UUID().uuidString)"
        for (path, contents) in files {
            let full = "\(root)/\(path)"
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try contents.write(toFile: full, atomically: false, encoding: .utf8)
        }
        _ = try await runTool(["bash", "-c", "cd \(root) && find . -type d -exec chmod 755 {} + && find . -type f -exec chmod 644 {} +"])
        _ = try await runTool(["tar", "-cJf", "\(root).tar.xz", "-C", root, "."])
        return "\(root).tar.xz"
    }

    @Test func onlyComparedPathsCountAndTheDifferingOnesAreNamed() async throws {
        try await withTemporaryDirectory { dir in
            let one = try await archive(dir, [("lib.a", "code"), ("job_output.txt", "took 0.12 s"), ("t/report.txt", "ok 0.12 s")])
            let two = try await archive(dir, [("lib.a", "code"), ("job_output.txt", "took 0.09 s"), ("t/report.txt", "ok 0.09 s")])
            let first = try OutputDigest.summary(archive: one, comparing: .default)
            let second = try OutputDigest.summary(archive: two, comparing: .default)
            #expect(first.leftOut == ["job_output.txt"])
            #expect(first.compared == [".", "lib.a", "t", "t/report.txt"])
            #expect(first.digest != second.digest, "the report's timings differ")
            #expect(first.differing(from: second) == ["t/report.txt"])
            let withoutReport = OutputComparison(patterns: ["**", "!job_output.txt", "!t/**"])
            let a = try OutputDigest.summary(archive: one, comparing: withoutReport)
            let b = try OutputDigest.summary(archive: two, comparing: withoutReport)
            #expect(a.digest == b.digest && a.differing(from: b).isEmpty)
            #expect(a.leftOut == ["job_output.txt", "t", "t/report.txt"])
            #expect(try OutputDigest.of(archive: one) == (try OutputDigest.summary(archive: one, comparing: .everything).digest))
            let three = try await archive(dir, [("lib.a", "code"), ("extra", "x")])
            #expect(try OutputDigest.summary(archive: three, comparing: .default).differing(from: first) == ["extra", "t", "t/report.txt"],
                    "a path only one side has differs too")
        }
    }

    @Test func leadingDotSlashAndTrailingSlashesAreOneName() {
        #expect(OutputDigest.normalised(Array("./a/b/".utf8)) == Array("a/b".utf8))
        #expect(OutputDigest.normalised(Array("./".utf8)) == Array(".".utf8))
        #expect(OutputDigest.normalised(Array("a".utf8)) == Array("a".utf8))
    }

    @Test func aCorruptArchiveIsAnErrorNotADigest() async throws {
        try await withTemporaryDirectory { dir in
            try Data("not xz at all".utf8).write(to: URL(fileURLWithPath: "\(dir)/bad.tar.xz"))
            #expect(throws: ConstruirError.self) { try OutputDigest.of(archive: "\(dir)/bad.tar.xz") }
        }
    }
}
