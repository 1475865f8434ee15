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
}
