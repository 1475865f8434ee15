import ConstruirSystem
import Foundation
import TestSupport
import Testing
import XZ

// MARK: - Helpers

private func bytes(at path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ConstruirError(.notFound, "cannot read \(path)")
    }
    return [UInt8](data)
}

private func write(_ bytes: [UInt8], to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
        throw ConstruirError(.system, "cannot write \(path)")
    }
}

/// Extends (or creates) `path` to `size` bytes; the new bytes read as zeros.
private func pad(_ path: String, to size: Int64) throws {
    if !FileManager.default.fileExists(atPath: path) { try write([], to: path) }
    #expect(truncate(path, off_t(size)) == 0)
}

private func randomBytes(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

/// Reads everything a reader produces, in `chunk`-sized pulls.
private func drain(_ reader: XZStreamReader, chunk: Int = 64 << 10) throws -> [UInt8] {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
    defer { buffer.deallocate() }
    var result: [UInt8] = []
    while true {
        let n = try reader.read(into: buffer)
        if n == 0 { return result }
        result.append(contentsOf: buffer[..<n])
    }
}

/// Builds a small tree and a real `tar -cJf` archive of it; returns (tar.xz path, plain tar bytes).
private func makeTarXZ(in dir: String) async throws -> (xz: String, tar: [UInt8]) {
    let src = "\(dir)/src"
    try FileManager.default.createDirectory(atPath: "\(src)/nested/deeper", withIntermediateDirectories: true)
    try write(Array("hello\n".utf8), to: "\(src)/a.txt")
    try write(randomBytes(200_000), to: "\(src)/nested/random.bin")
    try write(Array(repeating: 0x41, count: 300_000), to: "\(src)/nested/deeper/aaa.txt")
    let xz = "\(dir)/orig.tar.xz"
    #expect(try await runTool(["tar", "-cJf", xz, "-C", src, "."]).status == 0)
    // Decompress a copy with the real xz tool to know the expected tar bytes.
    #expect(try await runTool(["cp", xz, "\(dir)/expected.tar.xz"]).status == 0)
    #expect(try await runTool(["xz", "-d", "\(dir)/expected.tar.xz"]).status == 0)
    return (xz, try bytes(at: "\(dir)/expected.tar"))
}

private func expectXZError(_ code: ConstruirError.Code, containing text: String,
                           sourceLocation: SourceLocation = #_sourceLocation,
                           _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected a \(code) error containing \"\(text)\", got success", sourceLocation: sourceLocation)
    } catch let error as ConstruirError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.contains(text), "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

// MARK: - Tests

@Suite struct XZStreamReaderTests {
    @Test func decodesTarXZPaddedWithZerosAndKeepsExactCopy() async throws {
        try await withTemporaryDirectory { dir in
            let (xz, tar) = try await makeTarXZ(in: dir)
            let original = try bytes(at: xz)
            let disk = "\(dir)/disk.img"
            try write(original, to: disk)
            try pad(disk, to: 1 << 20)
            #expect(try FileSystem.size(of: disk) == 1 << 20)

            let kept = "\(dir)/output.tar.xz"
            let reader = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 30, copyingStreamTo: kept)
            let decoded = try drain(reader, chunk: 777)
            #expect(decoded == tar)
            #expect(reader.isAtEnd)
            #expect(reader.compressedLength == Int64(original.count))
            #expect(reader.decompressedLength == Int64(tar.count))
            // The copy only appears once finish() succeeded.
            #expect(!FileManager.default.fileExists(atPath: kept))
            #expect(try reader.finish() == Int64(original.count))
            #expect(try bytes(at: kept) == original)
            #expect(!FileManager.default.fileExists(atPath: kept + ".partial"))
            // The kept copy is a valid xz file for the real tool.
            #expect(try await runTool(["xz", "-t", kept]).status == 0)
        }
    }

    @Test func finishDrainsWhatTheConsumerDidNotRead() async throws {
        try await withTemporaryDirectory { dir in
            let (xz, tar) = try await makeTarXZ(in: dir)
            let original = try bytes(at: xz)
            let disk = "\(dir)/disk.img"
            try write(original, to: disk)
            try pad(disk, to: 1 << 20)
            let kept = "\(dir)/kept.xz"
            let reader = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 30, copyingStreamTo: kept)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1000, alignment: 1)
            defer { buffer.deallocate() }
            #expect(try reader.read(into: buffer) > 0)
            #expect(reader.compressedLength == nil)
            #expect(try reader.finish() == Int64(original.count))
            #expect(reader.decompressedLength == Int64(tar.count))
            #expect(try bytes(at: kept) == original)
        }
    }

    @Test func ignoresGarbageAndASecondStreamAfterTheFirst() async throws {
        try await withTemporaryDirectory { dir in
            let first = try XZ.compress(Array("first stream".utf8))
            let second = try XZ.compress(Array("second stream".utf8))
            let disk = "\(dir)/disk.img"
            try write(first + second + randomBytes(10_000), to: disk)
            let kept = "\(dir)/kept.xz"
            let reader = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 20, copyingStreamTo: kept)
            #expect(try drain(reader) == Array("first stream".utf8))
            #expect(reader.compressedLength == Int64(first.count))
            try reader.finish()
            #expect(try bytes(at: kept) == first)

            try write(first + randomBytes(3), to: disk)
            let again = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 20)
            #expect(try drain(again) == Array("first stream".utf8))
            #expect(again.compressedLength == Int64(first.count))
        }
    }

    @Test(arguments: [0, 1, 2, 3, 5, 7, 4093])
    func paddingOfAnyLengthIsIgnored(padding: Int) async throws {
        try await withTemporaryDirectory { dir in
            let payload = randomBytes(5000)
            let stream = try XZ.compress(payload, preset: 1)
            let disk = "\(dir)/disk.img"
            try write(stream + [UInt8](repeating: 0, count: padding), to: disk)
            let kept = "\(dir)/kept.xz"
            let reader = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 20, copyingStreamTo: kept)
            #expect(try drain(reader) == payload)
            #expect(try reader.finish() == Int64(stream.count))
            #expect(try bytes(at: kept) == stream)
        }
    }

    @Test func allZeroDiskIsReportedAsEmpty() async throws {
        try await withTemporaryDirectory { dir in
            let disk = "\(dir)/disk.img"
            try FileSystem.createSparseFile(disk, size: 1 << 20)
            expectXZError(.xz, containing: "is empty (all zeros)") {
                _ = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 20, copyingStreamTo: "\(dir)/kept.xz")
            }
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/kept.xz"))
            #expect(!FileManager.default.fileExists(atPath: "\(dir)/kept.xz.partial"))

            try write([], to: disk)
            expectXZError(.xz, containing: "is empty (zero length)") {
                _ = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 20)
            }
        }
    }

    @Test func randomBytesAreNotXZ() async throws {
        try await withTemporaryDirectory { dir in
            let disk = "\(dir)/disk.img"
            var noise = randomBytes(8192)
            noise[0] = 0x42  // never the magic, never all zeros
            try write(noise, to: disk)
            expectXZError(.xz, containing: "does not start with an xz stream") {
                _ = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 20)
            }
            // A gzip file is not xz either.
            try write([0x1F, 0x8B, 0x08, 0x00] + [UInt8](repeating: 0, count: 100), to: disk)
            expectXZError(.xz, containing: "does not start with an xz stream") {
                _ = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 20)
            }
        }
    }

    @Test func missingDiskIsASystemError() async throws {
        try await withTemporaryDirectory { dir in
            expectXZError(.system, containing: "cannot open output disk") {
                _ = try XZStreamReader(path: "\(dir)/nope.img", maxDecompressedBytes: 1 << 20)
            }
        }
    }

    @Test func truncatedStreamFailsAndLeavesNoCopy() async throws {
        try await withTemporaryDirectory { dir in
            let payload = randomBytes(300_000)
            let stream = try XZ.compress(payload, preset: 1)
            let disk = "\(dir)/disk.img"
            let kept = "\(dir)/kept.xz"
            for cut in [3, 20, stream.count / 2, stream.count - 1] {
                try write(Array(stream[..<cut]), to: disk)
                expectXZError(.xz, containing: "truncated") {
                    let reader = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 30, copyingStreamTo: kept)
                    _ = try drain(reader)
                }
                #expect(!FileManager.default.fileExists(atPath: kept))
                #expect(!FileManager.default.fileExists(atPath: kept + ".partial"))
            }
            // Truncated, then zero padding (what a guest that died mid-write leaves behind).
            try write(Array(stream[..<(stream.count / 2)]), to: disk)
            try pad(disk, to: 1 << 20)
            let reader = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 30, copyingStreamTo: kept)
            #expect(throws: ConstruirError.self) { try reader.finish() }
            // The error is sticky.
            #expect(throws: ConstruirError.self) { _ = try drain(reader) }
            #expect(!FileManager.default.fileExists(atPath: kept))
            #expect(!FileManager.default.fileExists(atPath: kept + ".partial"))
        }
    }

    @Test func corruptStreamIsReported() async throws {
        try await withTemporaryDirectory { dir in
            var stream = try XZ.compress(randomBytes(100_000), preset: 1)
            stream[stream.count / 2] ^= 0xFF
            let disk = "\(dir)/disk.img"
            try write(stream, to: disk)
            expectXZError(.xz, containing: "corrupt") {
                _ = try drain(try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 30))
            }
        }
    }

    @Test func decompressedSizeCapStopsABomb() async throws {
        try await withTemporaryDirectory { dir in
            let disk = "\(dir)/disk.img"
            let writer = try XZWriter(path: disk, options: .init(preset: 1))
            let zeros = [UInt8](repeating: 0, count: 1 << 20)
            for _ in 0..<50 { try writer.write(zeros) }
            let compressed = try writer.finish()
            #expect(compressed < 100_000)
            try pad(disk, to: 1 << 20)

            let cap: Int64 = 10 << 20
            let kept = "\(dir)/kept.xz"
            let reader = try XZStreamReader(path: disk, maxDecompressedBytes: cap, copyingStreamTo: kept)
            expectXZError(.limitExceeded, containing: "decompressed-size limit") {
                _ = try reader.finish()
            }
            // It stopped right after the cap, not after decoding all 50 MB.
            #expect(reader.decompressedLength > cap)
            #expect(reader.decompressedLength <= cap + (64 << 10))
            #expect(!FileManager.default.fileExists(atPath: kept))
            #expect(!FileManager.default.fileExists(atPath: kept + ".partial"))

            // Exactly at the cap is allowed.
            let exact = try XZStreamReader(path: disk, maxDecompressedBytes: 50 << 20)
            #expect(try exact.finish() == compressed)
            #expect(exact.decompressedLength == 50 << 20)
        }
    }

    @Test func memoryLimitIsEnforced() async throws {
        try await withTemporaryDirectory { dir in
            // Preset 9 declares a 64 MiB dictionary, whatever the input size.
            let stream = try XZ.compress(Array("small".utf8), preset: 9)
            let disk = "\(dir)/disk.img"
            try write(stream, to: disk)
            expectXZError(.xz, containing: "MiB limit") {
                _ = try drain(try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 20, memoryLimit: 16 << 20))
            }
            let reader = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 20)
            #expect(try drain(reader) == Array("small".utf8))
        }
    }

    @Test func discardRemovesThePartialCopy() async throws {
        try await withTemporaryDirectory { dir in
            let disk = "\(dir)/disk.img"
            try write(try XZ.compress(randomBytes(100_000)), to: disk)
            let kept = "\(dir)/kept.xz"
            do {
                let reader = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 20, copyingStreamTo: kept)
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 1)
                defer { buffer.deallocate() }
                #expect(try reader.read(into: buffer) == 100)
                #expect(FileManager.default.fileExists(atPath: kept + ".partial"))
                reader.discard()
                #expect(!FileManager.default.fileExists(atPath: kept + ".partial"))
                #expect(throws: ConstruirError.self) { try reader.finish() }
            }
            // Dropping an unfinished reader cleans up as well.
            do {
                let reader = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 20, copyingStreamTo: kept)
                #expect(FileManager.default.fileExists(atPath: kept + ".partial"))
                _ = reader
            }
            #expect(!FileManager.default.fileExists(atPath: kept + ".partial"))
            #expect(!FileManager.default.fileExists(atPath: kept))
        }
    }
}

@Suite struct XZWriterTests {
    @Test(arguments: [1, 2, 0])
    func writerRoundTripsAndRealXZAcceptsIt(threads: Int) async throws {
        try await withTemporaryDirectory { dir in
            let path = "\(dir)/out.xz"
            let writer = try XZWriter(path: path, options: .init(preset: 1, threads: threads))
            var expected: [UInt8] = []
            let random = randomBytes(1 << 20)
            for i in 0..<6 {
                let piece = i.isMultiple(of: 2) ? random : [UInt8](repeating: UInt8(i), count: 3 << 20)
                try writer.write(piece)
                expected += piece
            }
            let size = try writer.finish()
            #expect(size == (try FileSystem.size(of: path)))
            #expect(writer.uncompressedLength == Int64(expected.count))
            #expect(try await runTool(["xz", "-t", path]).status == 0)

            let reader = try XZStreamReader(path: path, maxDecompressedBytes: 1 << 30)
            #expect(try drain(reader) == expected)
            #expect(reader.compressedLength == size)
        }
    }

    @Test func unfinishedWriterLeavesNoFile() async throws {
        try await withTemporaryDirectory { dir in
            let path = "\(dir)/out.xz"
            do {
                let writer = try XZWriter(path: path)
                try writer.write(Array("data".utf8))
                #expect(FileManager.default.fileExists(atPath: path))
            }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
    }

    @Test func compressMatchesRealXZ() async throws {
        try await withTemporaryDirectory { dir in
            let payload = randomBytes(50_000) + [UInt8](repeating: 7, count: 50_000)
            try write(try XZ.compress(payload, preset: 3, extreme: true), to: "\(dir)/p.xz")
            #expect(try await runTool(["xz", "-d", "\(dir)/p.xz"]).status == 0)
            #expect(try bytes(at: "\(dir)/p") == payload)
            #expect(throws: ConstruirError.self) { _ = try XZ.compress([], preset: 10) }
        }
    }
}
