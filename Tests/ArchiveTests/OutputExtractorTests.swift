import Archive
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

private func write(_ bytes: [UInt8], to path: String, mode: Int = 0o644) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: mode]) else {
        throw ConstruirError(.system, "cannot write \(path)")
    }
}

private func listing(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
}

private func lstatMode(_ path: String) -> mode_t? {
    var st = stat()
    return lstat(path, &st) == 0 ? st.st_mode : nil
}

private func inode(_ path: String) -> ino_t? {
    var st = stat()
    return lstat(path, &st) == 0 ? st.st_ino : nil
}

/// A test layout: `<tmp>/work/disk.img` is the output disk, `<tmp>/work/out` the destination,
/// `<tmp>/work/output.tar.xz` the kept archive. Escapes would land in `work` or `<tmp>`.
private struct Layout {
    let top: String
    var work: String { "\(top)/work" }
    var disk: String { "\(work)/disk.img" }
    var destination: String { "\(work)/out" }
    var kept: String { "\(work)/output.tar.xz" }

    init(_ top: String) throws {
        self.top = top
        try FileManager.default.createDirectory(atPath: "\(top)/work", withIntermediateDirectories: false)
    }

    /// Copies a tar.xz onto the disk and pads it with zeros to `size`, like a guest would leave it.
    func makeDisk(from archive: String, size: Int64 = 1 << 20) throws -> [UInt8] {
        let stream = try bytes(at: archive)
        try write(stream, to: disk)
        let padded = max(size, Int64(stream.count) + 1)
        #expect(truncate(disk, off_t(padded)) == 0)
        return stream
    }

    func makeDisk(_ entries: [TarEntry]) throws -> [UInt8] {
        let archive = "\(top)/archive.tar.xz"
        try writeTarXZ(entries, to: archive)
        defer { unlink(archive) }
        return try makeDisk(from: archive)
    }

    func extract(limits: ExtractionLimits = ExtractionLimits()) throws -> ExtractionSummary {
        try OutputExtractor.extract(disk: disk, to: destination, keepingArchiveAt: kept, limits: limits)
    }
}

/// Builds a disk from `entries`, expects extraction to fail with `code` and a message containing
/// every string in `messages`, and checks that nothing was left behind or created outside.
private func expectRejected(_ entries: [TarEntry], limits: ExtractionLimits = ExtractionLimits(),
                            code: ConstruirError.Code, messages: [String],
                            sourceLocation: SourceLocation = #_sourceLocation) async throws {
    try await withTemporaryDirectory { top in
        let layout = try Layout(top)
        let stream = try layout.makeDisk(entries)
        do {
            let summary = try layout.extract(limits: limits)
            Issue.record("extraction succeeded: \(summary)", sourceLocation: sourceLocation)
        } catch let error as ConstruirError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            for message in messages {
                #expect(error.message.contains(message), "\(error)", sourceLocation: sourceLocation)
            }
        }
        // All or nothing: no destination; nothing escaped into work/ or the level above.
        #expect(!FileManager.default.fileExists(atPath: layout.destination), sourceLocation: sourceLocation)
        #expect(listing(layout.work) == ["disk.img", "output.tar.xz"], sourceLocation: sourceLocation)
        #expect(listing(top) == ["work"], sourceLocation: sourceLocation)
        // The xz stream itself was fine, so the trimmed archive is kept for inspection.
        #expect(try bytes(at: layout.kept) == stream, sourceLocation: sourceLocation)
    }
}

// MARK: - Tests

@Suite struct OutputExtractorTests {
    @Test func extractsARealTarXZ() async throws {
        try await withTemporaryDirectory { top in
            let layout = try Layout(top)
            let src = "\(top)/src"
            try FileManager.default.createDirectory(atPath: "\(src)/a/b/c", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(src)/bin", withIntermediateDirectories: true)
            let random = (0..<300_000).map { _ in UInt8.random(in: 0...255) }
            try write(random, to: "\(src)/a/b/c/data.bin")
            try write(Array("#!/bin/sh\necho hi\n".utf8), to: "\(src)/bin/tool", mode: 0o755)
            try write(Array("readme\n".utf8), to: "\(src)/README", mode: 0o600)
            try FileManager.default.createSymbolicLink(atPath: "\(src)/a/b/link", withDestinationPath: "c/data.bin")
            try FileManager.default.createSymbolicLink(atPath: "\(src)/a/b/c/up", withDestinationPath: "../../../README")
            #expect(link("\(src)/README", "\(src)/a/README.hard") == 0)
            let archive = "\(top)/orig.tar.xz"
            #expect(try await runTool(["tar", "-cJf", archive, "-C", src, "."]).status == 0)
            let stream = try layout.makeDisk(from: archive)

            let summary = try layout.extract()
            let out = layout.destination
            #expect(try bytes(at: "\(out)/a/b/c/data.bin") == random)
            #expect(try bytes(at: "\(out)/bin/tool") == Array("#!/bin/sh\necho hi\n".utf8))
            #expect(lstatMode("\(out)/bin/tool").map { $0 & 0o7777 } == 0o755)
            #expect(lstatMode("\(out)/README").map { $0 & 0o7777 } == 0o600)
            #expect(lstatMode("\(out)/a/b/c/data.bin").map { $0 & 0o7777 } == 0o644)
            #expect(lstatMode("\(out)/a/b").map { $0 & S_IFMT } == S_IFDIR)
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(out)/a/b/link") == "c/data.bin")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(out)/a/b/c/up") == "../../../README")
            #expect(try bytes(at: "\(out)/a/b/link") == random)
            #expect(try bytes(at: "\(out)/a/b/c/up") == Array("readme\n".utf8))
            #expect(inode("\(out)/a/README.hard") == inode("\(out)/README"))
            #expect(try await runTool(["./bin/tool"], in: out).output == "hi\n")

            // Entries: a, a/b, a/b/c, data.bin, link, up, README.hard, bin, tool, README (not ./).
            #expect(summary.entries == 10)
            #expect(summary.bytesWritten == Int64(random.count + 18 + 7))
            #expect(summary.compressedLength == Int64(stream.count))
            #expect(summary.tarStreamLength > summary.bytesWritten)
            #expect(try bytes(at: layout.kept) == stream)
            #expect(listing(layout.work) == ["disk.img", "out", "output.tar.xz"])
        }
    }

    @Test func extractsInProcessArchiveAndStripsSpecialModeBits() async throws {
        try await withTemporaryDirectory { top in
            let layout = try Layout(top)
            _ = try layout.makeDisk([
                TarEntry("./", .directory),
                TarEntry("./setuid", .file(Array("#!/bin/sh\n".utf8)), mode: 0o4755),
                TarEntry("setgid-dir", .directory, mode: 0o2775),
                TarEntry("sticky", .directory, mode: 0o1777),
                TarEntry("world-writable", .file([1, 2, 3]), mode: 0o666),
                TarEntry("no-perms", .file([4]), mode: 0o000),
                TarEntry("locked-dir", .directory, mode: 0o000),
                TarEntry("locked-dir/inside", .file([5])),
                TarEntry("a//b/./c", .file([6])),
                TarEntry("dir/", .directory),
                TarEntry("dir/rel", .symlink("../setuid")),
                TarEntry("dir/dot", .symlink(".")),
                TarEntry("ünïcødé ✓", .file([7])),
            ])
            let summary = try layout.extract()
            let out = layout.destination
            func perm(_ path: String) -> mode_t? { lstatMode("\(out)/\(path)").map { $0 & 0o7777 } }
            #expect(perm("setuid") == 0o755)
            #expect(perm("setgid-dir") == 0o755)
            #expect(perm("sticky") == 0o755)
            #expect(perm("world-writable") == 0o644)
            #expect(perm("no-perms") == 0o600)
            #expect(perm("locked-dir") == 0o700)
            #expect(try bytes(at: "\(out)/locked-dir/inside") == [5])
            #expect(try bytes(at: "\(out)/a/b/c") == [6])
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: "\(out)/dir/rel") == "../setuid")
            #expect(try bytes(at: "\(out)/ünïcødé ✓") == [7])
            #expect(summary.entries == 12)
            #expect(summary.bytesWritten == 17)  // 10 + 3 + 1 + 1 + 1 + 1
        }
    }

    @Test func sparseFilesCountTheirLogicalSize() async throws {
        try await withTemporaryDirectory { top in
            let layout = try Layout(top)
            _ = try layout.makeDisk([
                TarEntry("sparse", .sparse(size: 5 << 20, regions: [(offset: 1 << 20, length: 4096)])),
            ])
            let summary = try layout.extract(limits: ExtractionLimits(maxTotalBytes: 10 << 20))
            #expect(summary.bytesWritten == 5 << 20)
            let contents = try bytes(at: "\(layout.destination)/sparse")
            #expect(contents.count == 5 << 20)
            #expect(contents[1 << 20] == 0xAB && contents[(1 << 20) + 4095] == 0xAB)
            #expect(contents[0] == 0 && contents[(1 << 20) + 4096] == 0)
        }
        // The same file does not fit under a 4 MiB cap, although it holds 4 KiB of data.
        try await expectRejected(
            [TarEntry("sparse", .sparse(size: 5 << 20, regions: [(offset: 1 << 20, length: 4096)]))],
            limits: ExtractionLimits(maxTotalBytes: 4 << 20), code: .limitExceeded, messages: ["total size limit", "'sparse'"])
    }

    // MARK: Hostile names

    @Test func rejectsParentDirectoryEscape() async throws {
        try await expectRejected([.file("ok"), .file("../evil-up")], code: .unsafeEntry, messages: ["'../evil-up'", "'..'"])
    }

    @Test func rejectsAbsolutePath() async throws {
        try await expectRejected([.file("/tmp/construir-evil-abs")], code: .unsafeEntry,
                                 messages: ["'/tmp/construir-evil-abs'", "absolute"])
        #expect(!FileManager.default.fileExists(atPath: "/tmp/construir-evil-abs"))
    }

    @Test func rejectsDotDotInTheMiddle() async throws {
        try await expectRejected([TarEntry("a", .directory), .file("a/../../evil-mid")], code: .unsafeEntry,
                                 messages: ["'a/../../evil-mid'"])
        // Even a `..` that stays inside is refused: there is no reason for it in an output.
        try await expectRejected([TarEntry("a", .directory), .file("a/../inside")], code: .unsafeEntry, messages: ["'..'"])
    }

    @Test(arguments: [0x01, 0x0A, 0x09, 0x1B, 0x1F, 0x7F] as [UInt8])
    func rejectsControlCharacters(byte: UInt8) async throws {
        let name = "bad" + String(UnicodeScalar(byte)) + "name"
        try await expectRejected([.file(name)], code: .unsafeEntry, messages: ["control character", "'bad\\x"])
    }

    // MARK: Hostile links

    @Test func rejectsAbsoluteSymlinkAndWritingThroughIt() async throws {
        try await expectRejected([TarEntry("link", .symlink("/etc")), .file("link/passwd", "pwned")],
                                 code: .unsafeEntry, messages: ["'link'", "'/etc'", "absolute"])
    }

    @Test func rejectsSymlinkClimbingOut() async throws {
        try await expectRejected([TarEntry("up", .symlink("../..")), .file("up/evil-through-link")],
                                 code: .unsafeEntry, messages: ["'up'", "outside the destination"])
        try await expectRejected([TarEntry("a/b", .directory), TarEntry("a/b/up", .symlink("../../../x"))],
                                 code: .unsafeEntry, messages: ["'a/b/up'", "outside the destination"])
        try await expectRejected([TarEntry("top", .symlink(".."))], code: .unsafeEntry, messages: ["outside the destination"])
    }

    @Test func rejectsDotDotThroughAnotherSymlink() async throws {
        // `sub/s2 -> ..` is the destination itself (fine), but `esc -> sub/s2/..` would be its
        // parent, although lexically `sub/s2/..` is just `sub`.
        try await expectRejected([
            TarEntry("sub", .directory),
            TarEntry("sub/s2", .symlink("..")),
            TarEntry("esc", .symlink("sub/s2/..")),
        ], code: .unsafeEntry, messages: ["'esc'", "after a directory name"])
    }

    @Test func rejectsWritingThroughAnInternalSymlink() async throws {
        // The symlink is harmless, but libarchive's SECURE_SYMLINKS refuses to write through it.
        try await expectRejected([TarEntry("d", .directory), TarEntry("s", .symlink("d")), .file("s/x")],
                                 code: .archive, messages: ["'s/x'"])
    }

    @Test func rejectsHardlinkEscapes() async throws {
        try await expectRejected([.file("f"), TarEntry("h", .hardlink("../outside"))],
                                 code: .unsafeEntry, messages: ["'h'", "hardlink target", "'..'"])
        try await expectRejected([TarEntry("h", .hardlink("/etc/passwd"))],
                                 code: .unsafeEntry, messages: ["'h'", "hardlink target", "absolute"])
        // A hardlinked symlink would resolve its relative target from another directory.
        try await expectRejected([
            TarEntry("a/b", .directory),
            TarEntry("a/b/s", .symlink("../x")),
            TarEntry("h", .hardlink("a/b/s")),
        ], code: .unsafeEntry, messages: ["'h'", "is a symlink"])
    }

    // MARK: Hostile types

    @Test func rejectsDevicesAndFIFOs() async throws {
        try await expectRejected([TarEntry("null", .characterDevice)], code: .unsafeEntry, messages: ["'null'", "character device"])
        try await expectRejected([TarEntry("loop", .blockDevice)], code: .unsafeEntry, messages: ["'loop'", "block device"])
        try await expectRejected([TarEntry("pipe", .fifo)], code: .unsafeEntry, messages: ["'pipe'", "FIFO"])
    }

    // MARK: Limits

    @Test func entryCountLimit() async throws {
        let files = (0..<200).map { TarEntry.file("f\($0)") }
        try await expectRejected(files, limits: ExtractionLimits(maxEntries: 100), code: .limitExceeded,
                                 messages: ["entry count limit"])
        try await withTemporaryDirectory { top in
            let layout = try Layout(top)
            _ = try layout.makeDisk(files)
            #expect(try layout.extract(limits: ExtractionLimits(maxEntries: 200)).entries == 200)
        }
    }

    @Test func totalBytesLimitStopsABomb() async throws {
        // 100 MB of zeros compresses to ~15 KB; extraction must stop at the 10 MB cap.
        try await expectRejected([TarEntry("bomb", .zeros(100_000_000))], limits: ExtractionLimits(maxTotalBytes: 10_000_000),
                                 code: .limitExceeded, messages: ["total size limit", "'bomb'"])
        // Many files that are each small add up as well.
        let many = (0..<20).map { TarEntry("f\($0)", .zeros(1 << 20)) }
        try await expectRejected(many, limits: ExtractionLimits(maxTotalBytes: 10 << 20),
                                 code: .limitExceeded, messages: ["total size limit"])
    }

    @Test func tarStreamLimitAppliesToTheDecompressedStream() async throws {
        try await withTemporaryDirectory { top in
            let layout = try Layout(top)
            _ = try layout.makeDisk([TarEntry("big", .zeros(20 << 20))])
            do {
                _ = try layout.extract(limits: ExtractionLimits(maxTarStreamBytes: 5 << 20))
                Issue.record("extraction succeeded")
            } catch let error as ConstruirError {
                #expect(error.code == .limitExceeded)
                #expect(error.message.contains("decompressed-size limit"))
            }
            // The stream blew the decompression cap, so there is no trimmed archive either.
            #expect(listing(layout.work) == ["disk.img"])
        }
    }

    @Test func pathLimits() async throws {
        let long = String(repeating: "n", count: 150)
        try await expectRejected([.file(long)], limits: ExtractionLimits(maxPathLength: 100),
                                 code: .limitExceeded, messages: ["path length limit"])
        let deep = (0..<10).map { "d\($0)" }.joined(separator: "/")
        try await expectRejected([.file(deep)], limits: ExtractionLimits(maxPathDepth: 5),
                                 code: .limitExceeded, messages: ["path depth limit"])
        try await expectRejected([.file(String(repeating: "c", count: 256))],
                                 code: .limitExceeded, messages: ["component length limit"])
        try await expectRejected([TarEntry("s", .symlink(String(repeating: "t", count: 120)))],
                                 limits: ExtractionLimits(maxPathLength: 100), code: .limitExceeded, messages: ["path length limit"])
        // At the limits exactly, it extracts.
        try await withTemporaryDirectory { top in
            let layout = try Layout(top)
            let name = String(repeating: "c", count: 255)
            _ = try layout.makeDisk([.file(name)])
            #expect(try layout.extract().entries == 1)
            #expect(FileManager.default.fileExists(atPath: "\(layout.destination)/\(name)"))
        }
    }

    // MARK: Hand-built tar streams

    /// Wraps raw tar bytes in xz and extracts them from a zero-padded disk.
    private func extractRaw(_ tar: [UInt8], in top: String, limits: ExtractionLimits = ExtractionLimits()) throws -> ExtractionSummary {
        let layout = try Layout(top)
        try write(try XZ.compress(tar, preset: 1), to: "\(top)/raw.tar.xz")
        _ = try layout.makeDisk(from: "\(top)/raw.tar.xz")
        return try layout.extract(limits: limits)
    }

    @Test func handBuiltTarIsExtracted() async throws {
        try await withTemporaryDirectory { top in
            let tar = ustarHeader(name: Array("hello.txt".utf8), size: 5) + tarPadded(Array("hello".utf8))
                + [UInt8](repeating: 0, count: 1024)
            let summary = try extractRaw(tar, in: top)
            #expect(summary.entries == 1)
            #expect(try bytes(at: "\(top)/work/out/hello.txt") == Array("hello".utf8))
        }
    }

    @Test func headerThatLiesAboutItsSizeFails() async throws {
        try await withTemporaryDirectory { top in
            // Claims 20 MB, carries 1 KiB, then the stream ends.
            let tar = ustarHeader(name: Array("liar".utf8), size: 20_000_000) + [UInt8](repeating: 0x55, count: 1024)
            #expect(throws: ConstruirError.self) { try extractRaw(tar, in: top) }
            #expect(!FileManager.default.fileExists(atPath: "\(top)/work/out"))
        }
    }

    @Test func sparseMapReachingPastTheDeclaredSizeIsCounted() async throws {
        // A pax (GNU 0.0) sparse entry claiming a 100-byte file whose map holds 1 MB of data:
        // what is written, not what the header says, must count.
        let data = [UInt8](repeating: 0xAB, count: 1_000_000)
        let pax = paxRecords([("GNU.sparse.size", "100"), ("GNU.sparse.numblocks", "1"),
                              ("GNU.sparse.offset", "0"), ("GNU.sparse.numbytes", "\(data.count)")])
        let tar = ustarHeader(name: Array("PaxHeaders/liar".utf8), size: pax.count, typeflag: UInt8(ascii: "x"))
            + tarPadded(pax)
            + ustarHeader(name: Array("liar".utf8), size: data.count) + tarPadded(data)
            + [UInt8](repeating: 0, count: 1024)
        try await withTemporaryDirectory { top in
            do {
                let summary = try extractRaw(tar, in: top, limits: ExtractionLimits(maxTotalBytes: 500_000))
                Issue.record("extraction succeeded: \(summary)")
            } catch let error as ConstruirError {
                #expect(error.code == .limitExceeded, "\(error)")
                #expect(error.message.contains("total size limit"), "\(error)")
            }
            #expect(listing("\(top)/work") == ["disk.img", "output.tar.xz"])
        }
    }

    @Test func rawHostileHeadersAreRejected() async throws {
        let cases: [(tar: [UInt8], message: String)] = [
            (ustarHeader(name: Array("../raw-evil".utf8), size: 0), "'..'"),
            (ustarHeader(name: [0x66, 0xFF, 0xFE], size: 0), "not valid UTF-8"),
            (ustarHeader(name: Array("ln".utf8), size: 0, typeflag: UInt8(ascii: "2"), linkname: Array("/etc/shadow".utf8)), "absolute"),
            (ustarHeader(name: Array("hl".utf8), size: 0, typeflag: UInt8(ascii: "1"), linkname: Array("../../x".utf8)), "'..'"),
            (ustarHeader(name: Array("dev".utf8), size: 0, typeflag: UInt8(ascii: "3")), "character device"),
            (ustarHeader(name: Array("fifo".utf8), size: 0, typeflag: UInt8(ascii: "6")), "FIFO"),
        ]
        for (tar, message) in cases {
            try await withTemporaryDirectory { top in
                do {
                    _ = try extractRaw(tar + [UInt8](repeating: 0, count: 1024), in: top)
                    Issue.record("extraction succeeded for \(message)")
                } catch let error as ConstruirError {
                    #expect(error.code == .unsafeEntry, "\(error)")
                    #expect(error.message.contains(message), "\(error)")
                }
                #expect(listing("\(top)/work") == ["disk.img", "output.tar.xz"])
                #expect(listing(top) == ["raw.tar.xz", "work"])
            }
        }
    }

    // MARK: Bad disks and destinations

    @Test func emptyOrNonXZDiskCreatesNothing() async throws {
        try await withTemporaryDirectory { top in
            let layout = try Layout(top)
            try FileSystem.createSparseFile(layout.disk, size: 1 << 20)
            #expect { try layout.extract() } throws: { error in
                (error as? ConstruirError)?.code == .xz && "\(error)".contains("empty (all zeros)")
            }
            try write(Array("PK\u{3}\u{4} definitely not xz".utf8), to: layout.disk)
            #expect { try layout.extract() } throws: { error in
                (error as? ConstruirError)?.code == .xz && "\(error)".contains("does not start with an xz stream")
            }
            #expect(listing(layout.work) == ["disk.img"])
        }
    }

    @Test func validXZThatIsNotTarFails() async throws {
        try await withTemporaryDirectory { top in
            let layout = try Layout(top)
            let garbage = (0..<10_000).map { _ in UInt8.random(in: 1...255) }
            let stream = try XZ.compress(garbage)
            try write(stream, to: "\(top)/g.xz")
            _ = try layout.makeDisk(from: "\(top)/g.xz")
            #expect { try layout.extract() } throws: { error in (error as? ConstruirError)?.code == .archive }
            #expect(listing(layout.work) == ["disk.img", "output.tar.xz"])
            #expect(try bytes(at: layout.kept) == stream)
        }
    }

    @Test func truncatedStreamKeepsNoArchive() async throws {
        try await withTemporaryDirectory { top in
            let layout = try Layout(top)
            let archive = "\(top)/a.tar.xz"
            try writeTarXZ([TarEntry("f", .file((0..<200_000).map { _ in UInt8.random(in: 0...255) }))], to: archive)
            let stream = try bytes(at: archive)
            try write(Array(stream[..<(stream.count / 2)]), to: layout.disk)
            #expect { try layout.extract() } throws: { error in (error as? ConstruirError)?.code == .xz }
            #expect(listing(layout.work) == ["disk.img"])
        }
    }

    @Test func existingDestinationIsRefused() async throws {
        try await withTemporaryDirectory { top in
            let layout = try Layout(top)
            _ = try layout.makeDisk([.file("f")])
            try FileManager.default.createDirectory(atPath: layout.destination, withIntermediateDirectories: false)
            try write([1], to: "\(layout.destination)/mine")
            #expect { try layout.extract() } throws: { error in (error as? ConstruirError)?.code == .invalidArgument }
            #expect(listing(layout.destination) == ["mine"])
        }
    }

    @Test func destinationUnderASymlinkedParentWorks() async throws {
        try await withTemporaryDirectory { top in
            let layout = try Layout(top)
            _ = try layout.makeDisk([TarEntry("d", .directory), .file("d/f", "data")])
            try FileManager.default.createSymbolicLink(atPath: "\(top)/alias", withDestinationPath: "work")
            let summary = try OutputExtractor.extract(disk: layout.disk, to: "\(top)/alias/out")
            #expect(summary.entries == 2)
            #expect(try bytes(at: "\(layout.destination)/d/f") == Array("data".utf8))
        }
    }

    @Test func emptyArchivesExtractToAnEmptyDirectory() async throws {
        try await withTemporaryDirectory { top in
            let layout = try Layout(top)
            // What `tar -cJf out.tar.xz -T /dev/null` in the guest produces.
            #expect(try await runTool(["tar", "-cJf", "\(top)/empty.tar.xz", "-T", "/dev/null"]).status == 0)
            let stream = try layout.makeDisk(from: "\(top)/empty.tar.xz")
            let summary = try layout.extract()
            #expect(summary == ExtractionSummary(entries: 0, bytesWritten: 0, compressedLength: Int64(stream.count),
                                                 tarStreamLength: 10240))
            #expect(listing(layout.destination).isEmpty)
        }
        try await withTemporaryDirectory { top in
            // An xz stream of nothing at all.
            let layout = try Layout(top)
            try write(try XZ.compress([]), to: "\(top)/nothing.xz")
            _ = try layout.makeDisk(from: "\(top)/nothing.xz")
            #expect(try layout.extract().entries == 0)
            #expect(listing(layout.destination).isEmpty)
        }
    }

    @Test func extractorWorksOnAReaderDirectly() async throws {
        try await withTemporaryDirectory { top in
            let layout = try Layout(top)
            let stream = try layout.makeDisk([.file("a", "abc"), .file("b", "defg")])
            let reader = try XZStreamReader(path: layout.disk, maxDecompressedBytes: 1 << 20)
            let summary = try OutputExtractor(limits: ExtractionLimits(maxTotalBytes: 7)).extract(from: reader, to: layout.destination)
            #expect(summary == ExtractionSummary(entries: 2, bytesWritten: 7, compressedLength: Int64(stream.count),
                                                 tarStreamLength: reader.decompressedLength))
            #expect(reader.isAtEnd)
        }
    }
}
