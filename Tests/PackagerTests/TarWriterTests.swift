import Archive
import ConstruirSystem
import Foundation
import Testing
import TestSupport
import XZ

@Suite struct TarWriterTests {
    /// Collects a `TarWriter`'s output.
    private final class Collector {
        var bytes: [UInt8] = []
    }

    private func tar(_ body: (TarWriter) throws -> Void) throws -> [UInt8] {
        let collector = Collector()
        let writer = try TarWriter { (chunk: UnsafeRawBufferPointer) throws(ConstruirError) in collector.bytes += chunk }
        try body(writer)
        try writer.finish()
        #expect(writer.bytesWritten == Int64(collector.bytes.count))
        return collector.bytes
    }

    @Test func writesWhatGNUTarReadsBack() async throws {
        let longName = "dir/" + String(repeating: "ü", count: 80) + "/" + String(repeating: "n", count: 120) + ".txt"
        let archive = try tar { writer in
            try writer.append(.init(path: "dir", kind: .directory, mode: 0o755, modificationTime: 1_000_000_000))
            try writer.append(.init(path: "dir/a.txt", kind: .file(size: 5), mode: 0o644, modificationTime: 1_000_000_000))
            try writer.writeData(Array("he".utf8))
            try writer.writeData(Array("llo".utf8))
            try writer.append(.init(path: longName, kind: .file(size: 1), mode: 0o755, modificationTime: 1_000_000_000))
            try writer.writeData([0x41])
            try writer.append(.init(path: "dir/link", kind: .symlink(target: Array("a.txt".utf8)), mode: 0o777, modificationTime: 1_000_000_000))
        }
        #expect(archive.count % 10240 == 0)
        try await withTemporaryDirectory { dir in
            try Data(archive).write(to: URL(fileURLWithPath: "\(dir)/t.tar"))
            let (status, output) = try await runTool(["bash", "-c", "tar --numeric-owner --full-time -tvf t.tar 2>&1", "t"], in: dir)
            #expect(status == 0)
            let lines = output.split(separator: "\n").map(String.init)
            #expect(lines.count == 4, "no warnings: \(output)")
            #expect(lines[0].hasPrefix("drwxr-xr-x 0/0") && lines[0].hasSuffix("2001-09-09 01:46:40 dir/"))
            #expect(lines[1].hasPrefix("-rw-r--r-- 0/0") && lines[1].hasSuffix(" dir/a.txt"))
            #expect(lines[2].hasPrefix("-rwxr-xr-x 0/0") && lines[2].hasSuffix(" " + longName))
            #expect(lines[3].hasSuffix(" dir/link -> a.txt"))
            #expect(try await runTool(["tar", "-xf", "t.tar"], in: dir).status == 0)
            #expect(try String(contentsOfFile: "\(dir)/\(longName)", encoding: .utf8) == "A")
            #expect(try String(contentsOfFile: "\(dir)/dir/link", encoding: .utf8) == "hello")
        }
        // No user or group names, no pax records but the long name's path.
        let text = String(decoding: archive, as: UTF8.self)
        #expect(!text.contains("atime") && !text.contains("ctime") && !text.contains("root"))
        #expect(text.contains("path=\(longName)\n"))
        #expect(!text.contains("hdrcharset"))
    }

    @Test func theSameEntriesGiveTheSameBytes() throws {
        func build() throws -> [UInt8] {
            try tar { writer in
                for i in 0..<50 {
                    let data = Array("file \(i)\n".utf8)
                    try writer.append(.init(path: "f\(i)", kind: .file(size: Int64(data.count)), mode: 0o644, modificationTime: 42))
                    try writer.writeData(data)
                }
            }
        }
        #expect(try build() == (try build()))
    }

    @Test func misuseIsAnError() throws {
        let collector = Collector()
        let writer = try TarWriter { (chunk: UnsafeRawBufferPointer) throws(ConstruirError) in collector.bytes += chunk }
        try writer.append(.init(path: "a", kind: .file(size: 3), mode: 0o644, modificationTime: 0))
        try writer.writeData([1])
        // Too much data, then a header while data is missing.
        #expect(throws: ConstruirError.self) { try writer.writeData([1, 2, 3]) }
        #expect(throws: ConstruirError.self) { try writer.finish() }

        let other = try TarWriter { (_: UnsafeRawBufferPointer) throws(ConstruirError) in }
        #expect(throws: ConstruirError.self) { try other.append(.init(path: "", kind: .directory, mode: 0o755, modificationTime: 0)) }
        let third = try TarWriter { (_: UnsafeRawBufferPointer) throws(ConstruirError) in }
        #expect(throws: ConstruirError.self) { try third.append(.init(path: "x", kind: .directory, mode: 0o40755, modificationTime: 0)) }
    }

    @Test func sinkErrorsStopTheArchive() throws {
        let writer = try TarWriter { (_: UnsafeRawBufferPointer) throws(ConstruirError) in
            throw ConstruirError(.system, "disk full")
        }
        let error = #expect(throws: ConstruirError.self) {
            for i in 0..<100 {
                try writer.append(.init(path: "f\(i)", kind: .file(size: 4096), mode: 0o644, modificationTime: 0))
                try writer.writeData([UInt8](repeating: 0, count: 4096))
            }
            try writer.finish()
        }
        #expect(error?.message == "disk full")
    }

    @Test func jobImageWriterCompressesWithAFixedBlockSize() async throws {
        try await withTemporaryDirectory { dir in
            var files: [[UInt8]] = []
            for threads in [1, 2] {
                let path = "\(dir)/t\(threads).tar.xz"
                let writer = try JobImageWriter(path: path, xz: .init(preset: 1, threads: threads, blockSize: 256 << 10))
                for i in 0..<8 {
                    var data = [UInt8](repeating: 0, count: 200_000)
                    for j in data.indices { data[j] = UInt8(truncatingIfNeeded: (j * 7 + i) ^ (j >> 5)) }
                    try writer.appendFile(path: Array("f\(i)".utf8), contents: data, mode: 0o644, modificationTime: 0)
                }
                let size = try writer.finish()
                #expect(size == (try FileSystem.size(of: path)))
                #expect(writer.tarLength > 1_600_000)
                files.append(try bytes(at: path))
            }
            #expect(files[0] == files[1])
            #expect(try await runTool(["bash", "-c", "xz -dc t1.tar.xz | tar -tf - | wc -l"], in: dir).output.trimmingCharacters(in: .whitespacesAndNewlines) == "8")
        }
    }
}
