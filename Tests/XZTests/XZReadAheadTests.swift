import ConstruirSystem
import Foundation
import TestSupport
import Testing
import XZ

// MARK: - Helpers

/// Writes `payload` as one xz stream at the start of a disk padded with zeros; returns the stream.
private func makeDisk(_ path: String, payload: [UInt8]) throws -> [UInt8] {
    let stream = try XZ.compress(payload, preset: 1)
    guard FileManager.default.createFile(atPath: path, contents: Data(stream)) else {
        throw ConstruirError(.system, "cannot write \(path)")
    }
    #expect(truncate(path, off_t(stream.count + (1 << 20))) == 0)
    return stream
}

/// Everything `readAhead` hands out, until the end or an error (returned with what came before).
private func consume(_ readAhead: XZReadAhead) -> (bytes: [UInt8], chunks: Int, error: ConstruirError?) {
    var bytes: [UInt8] = []
    var chunks = 0
    do {
        while true {
            let chunk = try readAhead.next()
            if chunk.isEmpty { return (bytes, chunks, nil) }
            bytes += chunk
            chunks += 1
        }
    } catch {
        return (bytes, chunks, error)
    }
}

/// The decoder thread is gone: not registered, and not in /proc.
private func expectNoDecoderThread(_ readAhead: XZReadAhead, tid: pid_t?, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(!XZReadAhead.running().contains(readAhead.path), sourceLocation: sourceLocation)
    if let tid {
        #expect(!FileManager.default.fileExists(atPath: "/proc/self/task/\(tid)"), sourceLocation: sourceLocation)
    }
}

// MARK: - Tests

@Suite struct XZReadAheadTests {
    @Test func handsOutTheStreamByteForByteAcrossManyChunks() async throws {
        try await withTemporaryDirectory { dir in
            let payload = mixedBytes(6 << 20)
            let disk = "\(dir)/disk.img", kept = "\(dir)/kept.xz"
            let stream = try makeDisk(disk, payload: payload)
            let reader = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 30, copyingStreamTo: kept)
            let readAhead = try XZReadAhead(reader, chunkSize: 64 << 10, chunkCount: 3)
            #expect(XZReadAhead.running().contains(disk))
            let (bytes, chunks, error) = consume(readAhead)
            #expect(error == nil)
            #expect(bytes == payload)
            #expect(chunks == (payload.count + (64 << 10) - 1) / (64 << 10))  // full chunks, then the rest
            #expect(try readAhead.next().isEmpty)  // the end, again
            let tid = readAhead.threadID
            readAhead.stop()
            expectNoDecoderThread(readAhead, tid: tid)
            // The reader is the caller's again, at the end of the stream.
            #expect(try reader.finish() == Int64(stream.count))
            #expect(reader.decompressedLength == Int64(payload.count))
            #expect(FileManager.default.contents(atPath: kept) == Data(stream))
        }
    }

    @Test func aLimitHitMidStreamReachesTheConsumerAfterTheDataBeforeIt() async throws {
        try await withTemporaryDirectory { dir in
            let payload = mixedBytes(4 << 20)
            let disk = "\(dir)/disk.img", kept = "\(dir)/kept.xz"
            _ = try makeDisk(disk, payload: payload)
            let cap: Int64 = (1 << 20) + 12345
            let reader = try XZStreamReader(path: disk, maxDecompressedBytes: cap, copyingStreamTo: kept)
            let readAhead = try XZReadAhead(reader, chunkSize: 32 << 10, chunkCount: 4)
            let (bytes, _, error) = consume(readAhead)
            #expect(error?.code == .limitExceeded)
            #expect(error?.message.contains("decompressed-size limit") == true)
            #expect(bytes.count <= Int(cap) && bytes.count > (1 << 20) - (32 << 10))
            #expect(bytes == Array(payload.prefix(bytes.count)))
            // The decoder thread ended with its error; the same error comes again.
            let tid = readAhead.threadID
            #expect(throws: ConstruirError.self) { _ = try readAhead.next() }
            readAhead.stop()
            expectNoDecoderThread(readAhead, tid: tid)
            #expect(throws: ConstruirError.self) { try reader.finish() }
            #expect(!FileManager.default.fileExists(atPath: kept))
            #expect(!FileManager.default.fileExists(atPath: kept + ".partial"))
        }
    }

    @Test func aCorruptStreamFailsCleanlyInTheMiddle() async throws {
        try await withTemporaryDirectory { dir in
            let payload = mixedBytes((4 << 20) + 777)
            let disk = "\(dir)/disk.img", kept = "\(dir)/kept.xz"
            let stream = try makeDisk(disk, payload: payload)
            // Flip bytes in the middle of the compressed data.
            let handle = try #require(FileHandle(forUpdatingAtPath: disk))
            try handle.seek(toOffset: UInt64(stream.count / 2))
            try handle.write(contentsOf: Data(repeating: 0x5A, count: 64))
            try handle.close()
            let reader = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 30, copyingStreamTo: kept)
            let readAhead = try XZReadAhead(reader, chunkSize: 64 << 10, chunkCount: 2)
            let (bytes, chunks, error) = consume(readAhead)
            #expect(error?.code == .xz)
            #expect(error?.message.contains("corrupt") == true)
            #expect(chunks > 2)  // it failed in the middle, not at the start
            #expect(bytes != payload)
            let tid = readAhead.threadID
            readAhead.stop()
            expectNoDecoderThread(readAhead, tid: tid)
            #expect(!FileManager.default.fileExists(atPath: kept))
            #expect(!FileManager.default.fileExists(atPath: kept + ".partial"))
        }
    }

    @Test func stoppingAFullQueueEndsTheThreadAndTheReaderFinishesTheStream() async throws {
        try await withTemporaryDirectory { dir in
            let payload = mixedBytes(3 << 20)
            let disk = "\(dir)/disk.img", kept = "\(dir)/kept.xz"
            let stream = try makeDisk(disk, payload: payload)
            let reader = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 30, copyingStreamTo: kept)
            let readAhead = try XZReadAhead(reader, chunkSize: 16 << 10, chunkCount: 2)
            let first = try readAhead.next()
            #expect(Array(first) == Array(payload.prefix(16 << 10)))
            // The decoder soon waits for a free chunk; stop() must wake it and join it.
            try await Task.sleep(for: .milliseconds(100))
            let tid = readAhead.threadID
            #expect(tid != nil)
            readAhead.stop()
            expectNoDecoderThread(readAhead, tid: tid)
            #expect(throws: ConstruirError.self) { _ = try readAhead.next() }
            // What was decoded ahead is dropped; the reader decodes the rest and keeps the copy.
            #expect(try reader.finish() == Int64(stream.count))
            #expect(reader.decompressedLength == Int64(payload.count))
            #expect(FileManager.default.contents(atPath: kept) == Data(stream))
        }
    }

    @Test func droppingItWithoutStopJoinsTheThread() async throws {
        try await withTemporaryDirectory { dir in
            let disk = "\(dir)/disk.img"
            _ = try makeDisk(disk, payload: mixedBytes(2 << 20))
            let reader = try XZStreamReader(path: disk, maxDecompressedBytes: 1 << 30)
            var tid: pid_t?
            do {
                let readAhead = try XZReadAhead(reader, chunkSize: 16 << 10, chunkCount: 2)
                _ = try readAhead.next()
                tid = readAhead.threadID
            }
            #expect(!XZReadAhead.running().contains(disk))
            #expect(!FileManager.default.fileExists(atPath: "/proc/self/task/\(try #require(tid))"))
            reader.discard()
        }
    }
}
