import ArgumentParser
import ConstruirCLI
import Foundation
import Testing
import TestSupport

/// `construir extract` applies the runner's rules to an archive from elsewhere.
@Suite struct ExtractCommandTests {
    private func run(_ arguments: [String]) throws {
        var command = try Construir.parseAsRoot(["extract"] + arguments)
        try command.run()
    }

    @Test func aGoodArchiveIsExtractedAndAnEscapingOneLeavesNothing() async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/src/sub", withIntermediateDirectories: true)
            try "data".write(toFile: "\(dir)/src/sub/file.txt", atomically: true, encoding: .utf8)
            #expect(try await runTool(["tar", "-C", "\(dir)/src", "-cJf", "\(dir)/good.tar.xz", "."]).status == 0)
            try run(["\(dir)/good.tar.xz", "\(dir)/out"])
            #expect(try String(contentsOfFile: "\(dir)/out/sub/file.txt", encoding: .utf8) == "data")

            try "secret".write(toFile: "\(dir)/victim.txt", atomically: true, encoding: .utf8)
            #expect(try await runTool(["tar", "-P", "-cJf", "\(dir)/bad.tar.xz", "\(dir)/victim.txt"]).status == 0)
            #expect(throws: (any Error).self) { try run(["\(dir)/bad.tar.xz", "\(dir)/bad-out"]) }
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/bad-out"))
            #expect(try String(contentsOfFile: "\(dir)/victim.txt", encoding: .utf8) == "secret")
        }
    }

    /// Parents the archive does not name are made by libarchive with 0777 less the umask. A
    /// `construir extract` started with umask 000 (the worst case of the race described at
    /// `OutputExtractor.tightenDirectoryModes`) still leaves no directory writable by others.
    @Test func implicitParentDirectoriesAreNotWritableByOthersWhateverTheUmask() async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/src/a/b", withIntermediateDirectories: true)
            try "data".write(toFile: "\(dir)/src/a/b/file.txt", atomically: true, encoding: .utf8)
            // Only the file's entry: tar adds no entries for a/ and a/b/.
            #expect(try await runTool(["tar", "-C", "\(dir)/src", "-cJf", "\(dir)/implicit.tar.xz", "a/b/file.txt"]).status == 0)
            let listing = try await runTool(["tar", "-tJf", "\(dir)/implicit.tar.xz"])
            #expect(listing.output.split(separator: "\n") == ["a/b/file.txt"])
            let binary = RunnerProcess.binary
            let result = try await runTool(["sh", "-c", "umask 000 && exec \"$0\" extract \"$1\" \"$2\"",
                                            binary, "\(dir)/implicit.tar.xz", "\(dir)/out"])
            #expect(result.status == 0, "\(result.output)")
            #expect(try String(contentsOfFile: "\(dir)/out/a/b/file.txt", encoding: .utf8) == "data")
            for directory in ["out", "out/a", "out/a/b"] {
                var st = stat()
                #expect(lstat("\(dir)/\(directory)", &st) == 0)
                #expect(st.st_mode & 0o7777 == 0o755, "\(directory) has mode \(String(st.st_mode & 0o7777, radix: 8))")
            }
        }
    }
}
