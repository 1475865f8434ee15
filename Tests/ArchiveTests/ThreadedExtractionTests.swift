import Archive
import ConstruirSystem
import Foundation
import TestSupport
import Testing
import XZ

// Extraction decodes xz on a second thread (`XZReadAhead`, 1 MiB chunks, 4 in flight). These
// outputs are many chunks long, so every path crosses chunk boundaries and fills the queue.

/// A large output: 240 files of 8–72 KiB in 12 directories, then a 9 MiB file; about 18 MiB of tar.
private func largeEntries() -> (entries: [TarEntry], files: [String: [UInt8]]) {
    var entries: [TarEntry] = []
    var files: [String: [UInt8]] = [:]
    for d in 0..<12 {
        entries.append(TarEntry("dir\(d)", .directory))
        for f in 0..<20 {
            let path = "dir\(d)/file\(f).bin"
            let bytes = mixedBytes(8192 + (d * 20 + f) * 271, seed: UInt64(d * 100 + f + 1))
            files[path] = bytes
            entries.append(TarEntry(path, .file(bytes)))
        }
    }
    let big = mixedBytes(9 << 20, seed: 7)
    files["big.bin"] = big
    entries.append(TarEntry("big.bin", .file(big)))
    return (entries, files)
}

/// The test's work directory: `disk.img` (the archive padded with zeros), `out` (the
/// destination) and `output.tar.xz` (the kept copy).
private struct Work {
    let dir: String
    var disk: String { "\(dir)/disk.img" }
    var destination: String { "\(dir)/out" }
    var kept: String { "\(dir)/output.tar.xz" }

    /// Writes `entries` onto the disk; returns the xz stream's bytes.
    func makeDisk(_ entries: [TarEntry]) throws -> [UInt8] {
        try writeTarXZ(entries, to: kept)
        let stream = [UInt8](try #require(FileManager.default.contents(atPath: kept)))
        #expect(rename(kept, disk) == 0)
        #expect(truncate(disk, off_t(stream.count + (1 << 20))) == 0)
        return stream
    }

    func extract(_ limits: ExtractionLimits = ExtractionLimits()) throws -> ExtractionSummary {
        try OutputExtractor.extract(disk: disk, to: destination, keepingArchiveAt: kept, limits: limits)
    }

    var listing: [String] { ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted() }
}

/// Runs `body`, expecting it to fail with `code` and `message`.
private func expectFailure(_ code: ConstruirError.Code, _ message: String, sourceLocation: SourceLocation = #_sourceLocation,
                           _ body: () throws -> ExtractionSummary) {
    do {
        let summary = try body()
        Issue.record("extraction succeeded: \(summary)", sourceLocation: sourceLocation)
    } catch let error as ConstruirError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.contains(message), "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct ThreadedExtractionTests {
    @Test func aLargeOutputExtractsByteForByte() async throws {
        try await withTemporaryDirectory { dir in
            let work = Work(dir: dir)
            let (entries, files) = largeEntries()
            let stream = try work.makeDisk(entries)
            let summary = try work.extract()
            #expect(!XZReadAhead.running().contains(work.disk))
            #expect(summary.entries == entries.count)
            #expect(summary.bytesWritten == Int64(files.values.reduce(0) { $0 + $1.count }))
            #expect(summary.compressedLength == Int64(stream.count))
            #expect(summary.tarStreamLength > 18 << 20)
            for (path, bytes) in files {
                #expect(FileManager.default.contents(atPath: "\(work.destination)/\(path)") == Data(bytes), "\(path)")
            }
            #expect(FileManager.default.contents(atPath: work.kept) == Data(stream))
            #expect(work.listing == ["disk.img", "out", "output.tar.xz"])
        }
    }

    @Test func aDecompressedSizeLimitHitMidStreamLeavesNothing() async throws {
        try await withTemporaryDirectory { dir in
            let work = Work(dir: dir)
            _ = try work.makeDisk(largeEntries().entries)
            expectFailure(.limitExceeded, "decompressed-size limit") {
                try work.extract(ExtractionLimits(maxTarStreamBytes: 5 << 20))
            }
            #expect(!XZReadAhead.running().contains(work.disk))
            // Neither the destination nor a copy of a stream that was never decoded to its end.
            #expect(work.listing == ["disk.img"])
        }
    }

    @Test func aFileSizeLimitHitMidStreamStopsTheDecoderAndKeepsTheValidStream() async throws {
        try await withTemporaryDirectory { dir in
            let work = Work(dir: dir)
            let stream = try work.makeDisk(largeEntries().entries)
            // The extracting side fails (the 9 MiB file goes over), the decoder is stopped, and
            // the rest of the stream is decoded only to keep its verified copy.
            expectFailure(.limitExceeded, "total size limit") {
                try work.extract(ExtractionLimits(maxTotalBytes: 6 << 20))
            }
            #expect(!XZReadAhead.running().contains(work.disk))
            #expect(work.listing == ["disk.img", "output.tar.xz"])
            #expect(FileManager.default.contents(atPath: work.kept) == Data(stream))
        }
    }

    @Test func aStreamCorruptInTheMiddleFailsCleanly() async throws {
        try await withTemporaryDirectory { dir in
            let work = Work(dir: dir)
            let stream = try work.makeDisk(largeEntries().entries)
            let handle = try #require(FileHandle(forUpdatingAtPath: work.disk))
            try handle.seek(toOffset: UInt64(stream.count / 2))
            try handle.write(contentsOf: Data(repeating: 0xA5, count: 256))
            try handle.close()
            do {
                let summary = try work.extract()
                Issue.record("extraction succeeded: \(summary)")
            } catch let error as ConstruirError {
                // liblzma's error, or libarchive's if the garbage it decoded first is not tar.
                #expect(error.code == .xz || error.code == .archive || error.code == .unsafeEntry, "\(error)")
            }
            #expect(!XZReadAhead.running().contains(work.disk))
            #expect(work.listing == ["disk.img"])
        }
    }
}
