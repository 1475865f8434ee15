import Archive
import ConstruirSystem
import CConstruir
import Foundation
import TestSupport
import Testing
import XZ

// A generated corpus of hostile outputs, one per class of attack a malicious guest can write to
// its output disk. Each case runs through `OutputExtractor.extract` on a real disk image inside
// a runner-like tree, and must end either in an error (destination gone) or in a clean result;
// a snapshot of every file around the job's own output shows nothing else changed.

// MARK: - The sandbox a case runs in

/// `top/outside/` holds what an escape would hit; `top/done/victim/` is an earlier job whose
/// output carries planted symlinks pointing out (as an older, careless runner could have left);
/// `top/running/7-job/` is this job: its output disk, its destination and its kept archive.
/// A successful extraction is then published beside the victim as `done/victim.2`.
struct CorpusSandbox {
    let top: String
    var outside: String { "\(top)/outside" }
    var job: String { "\(top)/running/7-job" }
    var disk: String { "\(job)/output.img" }
    var destination: String { "\(job)/output" }
    var kept: String { "\(job)/output.tar.xz" }
    var victim: String { "\(top)/done/victim" }
    var published: String { "\(top)/done/victim.2" }

    init(_ top: String) throws {
        self.top = top
        let fm = FileManager.default
        for dir in [outside, "\(outside)/dir", job, "\(victim)/output"] {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        try Data("secret".utf8).write(to: URL(fileURLWithPath: "\(outside)/secret"))
        try fm.createSymbolicLink(atPath: "\(victim)/output/planted", withDestinationPath: outside)
        try fm.createSymbolicLink(atPath: "\(victim)/output/rel", withDestinationPath: "../../../outside")
        try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(victim)/result.json"))
    }

    /// Writes `xz` onto the output disk, zero padded as a guest would leave it.
    func makeDisk(_ xz: [UInt8], size: Int64 = 2 << 20) throws {
        try Data(xz).write(to: URL(fileURLWithPath: disk))
        #expect(truncate(disk, off_t(max(size, Int64(xz.count) + 512))) == 0)
    }
}

/// Every file below `root` except the job's own output: type, mode, owner, size, content digest
/// or link target, mtime of files, and xattr names. Directory mtimes are left out (creating the
/// output changes its parent's).
private func snapshot(_ root: String, excluding: Set<String>) throws -> [String: String] {
    var result: [String: String] = [:]
    func walk(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        let type = st.st_mode & S_IFMT
        // A directory's link count follows its subdirectories (the output's parent gains one);
        // a file's is kept: a hardlink made to it from outside would raise it.
        var line = "mode=\(String(st.st_mode, radix: 8)) uid=\(st.st_uid) gid=\(st.st_gid)"
        if type != S_IFDIR { line += " nlink=\(st.st_nlink)" }
        line += " xattrs=\(xattrNames(path))"
        if type == S_IFREG {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            line += " size=\(st.st_size) mtime=\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) fnv=\(fnv1a(data))"
        } else if type == S_IFLNK {
            line += " -> \((try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?")"
        }
        result[path] = line
        if type == S_IFDIR {
            for name in try FileManager.default.contentsOfDirectory(atPath: path) where !excluding.contains("\(path)/\(name)") {
                try walk("\(path)/\(name)")
            }
        }
    }
    try walk(root)
    return result
}

/// FNV-1a over the whole file: enough to notice a change within one test run.
private func fnv1a(_ data: Data) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in data { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return hash
}

/// The paths whose snapshot line differs, appeared or disappeared.
private func changes(_ before: [String: String], _ after: [String: String]) -> [String] {
    Set(before.keys).union(after.keys).filter { before[$0] != after[$0] }.sorted()
        .map { "\($0): \(before[$0] ?? "absent") => \(after[$0] ?? "absent")" }
}

private func xattrNames(_ path: String) -> [String] {
    let size = llistxattr(path, nil, 0)
    guard size > 0 else { return [] }
    var buffer = [CChar](repeating: 0, count: size)
    let got = llistxattr(path, &buffer, size)
    guard got > 0 else { return [] }
    return buffer.prefix(got).split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
}

/// Checks that an extracted tree is clean: only regular files, directories and symlinks, owned
/// by us, no special or group/other-write bits, no xattrs, every symlink resolving inside.
private func expectClean(_ root: String, case name: String) throws {
    let resolvedRoot = try #require(realpath(root, nil).map { p in defer { free(p) }; return String(cString: p) })
    func walk(_ path: String) throws {
        var st = stat()
        #expect(lstat(path, &st) == 0)
        let type = st.st_mode & S_IFMT
        #expect([S_IFREG, S_IFDIR, S_IFLNK].contains(type), "\(name): \(path) has type \(String(type, radix: 8))")
        #expect(st.st_uid == getuid(), "\(name): \(path) owned by \(st.st_uid)")
        #expect(xattrNames(path).isEmpty, "\(name): \(path) has xattrs \(xattrNames(path))")
        if type != S_IFLNK {
            #expect(st.st_mode & 0o7022 == 0, "\(name): \(path) has mode \(String(st.st_mode & 0o7777, radix: 8))")
        } else if let target = realpath(path, nil) {
            let resolved = String(cString: target)
            free(target)
            #expect(resolved == resolvedRoot || resolved.hasPrefix(resolvedRoot + "/"), "\(name): \(path) resolves to \(resolved)")
        }
        if type == S_IFDIR {
            for entry in try FileManager.default.contentsOfDirectory(atPath: path) { try walk("\(path)/\(entry)") }
        }
    }
    try walk(root)
}

// MARK: - Building hostile archives

/// Raw tar bytes for what libarchive's writer refuses or normalises: exact name bytes, pax
/// records, GNU long names, lying headers.
private struct RawTar {
    var bytes: [UInt8] = []

    mutating func pax(_ records: [(String, String)], typeflag: Character = "x") {
        let body = paxRecords(records)
        bytes += ustarHeader(name: Array("PaxHeaders/e".utf8), size: body.count, typeflag: UInt8(ascii: typeflag.unicodeScalars.first!))
            + tarPadded(body)
    }

    mutating func gnuLongName(_ name: [UInt8]) {
        let body = name + [0]
        bytes += ustarHeader(name: Array("././@LongLink".utf8), size: body.count, typeflag: UInt8(ascii: "L")) + tarPadded(body)
    }

    mutating func entry(_ name: [UInt8], data: [UInt8] = [], typeflag: Character = "0", link: [UInt8] = [], mode: Int = 0o644) {
        bytes += ustarHeader(name: name, size: typeflag == "0" ? data.count : 0,
                             typeflag: UInt8(ascii: typeflag.unicodeScalars.first!), linkname: link, mode: mode)
        if typeflag == "0" { bytes += tarPadded(data) }
    }

    func xz() throws -> [UInt8] { try XZ.compress(bytes + [UInt8](repeating: 0, count: 1024), preset: 1) }
}

private func entriesXZ(_ entries: [TarEntry], in top: String) throws -> [UInt8] {
    let path = "\(top)/corpus.tar.xz"
    try writeTarXZ(entries, to: path)
    defer { unlink(path) }
    return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

private func raw(_ build: (inout RawTar) -> Void) throws -> [UInt8] {
    var tar = RawTar()
    build(&tar)
    return try tar.xz()
}

private func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

/// What a case must end in.
enum CorpusOutcome: Sendable {
    /// An error with this code (any of them, for cases where the refusal may come from either
    /// our checks or libarchive's), and nothing left at the destination.
    case rejected([ConstruirError.Code])
    /// A clean result; the closure checks the specifics inside the destination.
    case extracted(@Sendable (String) throws -> Void)
    /// Either, as long as it is clean: for shapes readers disagree on (an unknown type flag is
    /// a regular file to POSIX; replacing an entry may or may not be refused).
    case eitherClean
}

struct CorpusCase: CustomTestStringConvertible, Sendable {
    let name: String
    let limits: ExtractionLimits
    let archive: @Sendable (CorpusSandbox) throws -> [UInt8]
    let outcome: @Sendable () -> CorpusOutcome
    var testDescription: String { name }

    init(_ name: String, limits: ExtractionLimits = ExtractionLimits(), _ outcome: @autoclosure @escaping @Sendable () -> CorpusOutcome,
         archive: @escaping @Sendable (CorpusSandbox) throws -> [UInt8]) {
        self.name = name
        self.limits = limits
        self.archive = archive
        self.outcome = outcome
    }
}

private let refused = CorpusOutcome.rejected([.unsafeEntry])
private let overLimit = CorpusOutcome.rejected([.limitExceeded])

/// The corpus. Names say the class; `$OUT` in comments is the job's output directory.
private let corpus: [CorpusCase] = [
    // `..` and absolute paths, in every place a path can hide.
    CorpusCase("dotdot name", refused) { s in try entriesXZ([.file("../escape")], in: s.top) },
    CorpusCase("dotdot deep", refused) { s in try entriesXZ([.file("a/b/../../../../outside/x")], in: s.top) },
    CorpusCase("absolute name", refused) { s in try raw { $0.entry(utf8("\(s.outside)/abs")) } },
    CorpusCase("pax path absolute", refused) { s in try raw { $0.pax([("path", "\(s.outside)/pax")]); $0.entry(utf8("harmless")) } },
    CorpusCase("pax path dotdot", refused) { _ in try raw { $0.pax([("path", "x/../../../outside/pax")]); $0.entry(utf8("harmless")) } },
    CorpusCase("GNU long name dotdot", refused) { _ in
        try raw { $0.gnuLongName(utf8(String(repeating: "d/", count: 60) + String(repeating: "../", count: 70) + "x")); $0.entry(utf8("short")) }
    },
    CorpusCase("empty name", .rejected([.unsafeEntry, .archive])) { _ in try raw { $0.entry([]) } },
    CorpusCase("dot as a file", refused) { _ in try raw { $0.entry(utf8("."), data: [1]) } },

    // Symlink escapes: out directly, by climbing, through another link, and writing through them.
    CorpusCase("symlink absolute", refused) { s in try entriesXZ([TarEntry("l", .symlink(s.outside))], in: s.top) },
    CorpusCase("symlink climbs out", refused) { s in try entriesXZ([TarEntry("a/l", .symlink("../../outside"))], in: s.top) },
    CorpusCase("symlink then write through it", refused) { s in
        try entriesXZ([TarEntry("l", .symlink(s.outside)), .file("l/pwned")], in: s.top)
    },
    CorpusCase("symlink inside then write through it", .rejected([.archive, .unsafeEntry])) { s in
        try entriesXZ([TarEntry("d", .directory), TarEntry("l", .symlink("d")), .file("l/x")], in: s.top)
    },
    CorpusCase("dotdot through a symlinked dir", refused) { s in
        try entriesXZ([TarEntry("a/b", .directory), TarEntry("a/l", .symlink("b")), TarEntry("m", .symlink("a/l/../../..")),
                       .file("m/x")], in: s.top)
    },
    CorpusCase("symlink to an earlier job's output", refused) { s in
        // From $OUT, the victim's planted link is ../../../done/victim/output/planted.
        try entriesXZ([TarEntry("prev", .symlink("../../../done/victim/output/planted")), .file("prev/pwned")], in: s.top)
    },
    CorpusCase("names the planted link of an earlier job", .extracted({ (out: String) throws in
        // Relative to its own output these are plain names: nothing reaches the victim's links.
        #expect(try String(contentsOfFile: "\(out)/planted/pwned", encoding: .utf8) == "x")
        #expect(try String(contentsOfFile: "\(out)/rel/pwned", encoding: .utf8) == "x")
    })) { s in try entriesXZ([.file("planted/pwned"), .file("rel/pwned")], in: s.top) },
    CorpusCase("symlink replaced by a file of the same name", .eitherClean) { s in
        try entriesXZ([TarEntry("d", .directory), TarEntry("l", .symlink("d")), .file("l"), TarEntry("d", .symlink("l"))], in: s.top)
    },

    // Hardlinks out, to links, to directories.
    CorpusCase("hardlink absolute", refused) { s in try entriesXZ([TarEntry("h", .hardlink("\(s.outside)/secret"))], in: s.top) },
    CorpusCase("hardlink climbs out", refused) { s in try entriesXZ([TarEntry("h", .hardlink("../../../outside/secret"))], in: s.top) },
    CorpusCase("hardlink through an inside symlink to outside", refused) { s in
        try entriesXZ([TarEntry("l", .symlink(s.outside)), TarEntry("h", .hardlink("l/secret"))], in: s.top)
    },
    CorpusCase("hardlink to a symlink", refused) { s in
        try entriesXZ([.file("f"), TarEntry("d/l", .symlink("../f")), TarEntry("h", .hardlink("d/l"))], in: s.top)
    },
    CorpusCase("hardlink to a directory", .rejected([.archive])) { s in
        try entriesXZ([TarEntry("d", .directory), TarEntry("h", .hardlink("d"))], in: s.top)
    },
    CorpusCase("file rewritten after a hardlink to it", .extracted({ (out: String) throws in
        #expect(try String(contentsOfFile: "\(out)/f", encoding: .utf8) == "new")
    })) { _ in try raw { $0.entry(utf8("f"), data: utf8("old")); $0.entry(utf8("h"), typeflag: "1", link: utf8("f")); $0.entry(utf8("f"), data: utf8("new")) } },

    // Special files.
    CorpusCase("character device", refused) { s in try entriesXZ([TarEntry("null", .characterDevice)], in: s.top) },
    CorpusCase("block device", refused) { s in try entriesXZ([TarEntry("loop", .blockDevice)], in: s.top) },
    CorpusCase("FIFO", refused) { s in try entriesXZ([TarEntry("pipe", .fifo)], in: s.top) },
    CorpusCase("contiguous file type", .extracted({ (out: String) throws in
        // Typeflag '7' is a regular file for every reader.
        #expect(FileManager.default.fileExists(atPath: "\(out)/c"))
    })) { _ in try raw { $0.entry(utf8("c"), typeflag: "7") } },
    CorpusCase("unknown type flag", .eitherClean) { _ in try raw { $0.entry(utf8("odd"), typeflag: "Z") } },

    // Modes, owners, xattrs, ACLs, file flags: all dropped or sanitised.
    CorpusCase("setuid setgid sticky world-writable", .extracted({ (out: String) throws in
        for (path, mode) in [("suid", 0o755), ("sgid", 0o755), ("dir", 0o755), ("ww", 0o644)] as [(String, mode_t)] {
            var st = stat()
            #expect(lstat("\(out)/\(path)", &st) == 0 && st.st_mode & 0o7777 == mode, "\(path)")
        }
    })) { s in
        try entriesXZ([TarEntry("suid", .file([1]), mode: 0o4755), TarEntry("sgid", .file([1]), mode: 0o2755),
                       TarEntry("dir", .directory, mode: 0o3777), TarEntry("ww", .file([1]), mode: 0o666)], in: s.top)
    },
    CorpusCase("xattrs ACLs fflags and root ownership", .extracted({ (out: String) throws in
        #expect(xattrNames("\(out)/f").isEmpty)
        #expect(try String(contentsOfFile: "\(out)/f", encoding: .utf8) == "data")
    })) { _ in
        try raw {
            $0.pax([("SCHILY.xattr.user.evil", "1"), ("SCHILY.xattr.security.capability", "\u{1}\u{0}\u{0}\u{2}"),
                    ("LIBARCHIVE.xattr.trusted.x", "eA"), ("SCHILY.acl.access", "user::rwx,user:0:rwx,group::rwx,mask::rwx,other::rwx"),
                    ("SCHILY.fflags", "schg,uappnd"), ("uid", "0"), ("gid", "0"), ("uname", "root"), ("gname", "root")])
            $0.entry(utf8("f"), data: utf8("data"), mode: 0o6777)
        }
    },

    // Compression and size bombs.
    CorpusCase("xz bomb", limits: ExtractionLimits(maxTotalBytes: 8 << 20), overLimit) { s in
        try entriesXZ([TarEntry("bomb", .zeros(256 << 20))], in: s.top)
    },
    CorpusCase("bomb in a pax header", limits: ExtractionLimits(maxTotalBytes: 1 << 20, maxEntries: 10), .rejected([.limitExceeded, .archive])) { _ in
        try raw { $0.pax([("comment", String(repeating: "A", count: 16 << 20))]); $0.entry(utf8("f")) }
    },
    CorpusCase("xz needing more memory than allowed", limits: ExtractionLimits(xzMemoryLimit: 1 << 20), .rejected([.xz, .limitExceeded])) { _ in
        try XZ.compress(RawTar().bytes + [UInt8](repeating: 0, count: 1024) + [UInt8](repeating: 7, count: 4096), preset: 9)
    },
    CorpusCase("huge sparse file", overLimit) { _ in
        // 4 GiB logical, 4 KiB of data at its end (GNU sparse 0.0 in pax).
        try raw {
            $0.pax([("GNU.sparse.size", "\(Int64(4) << 30)"), ("GNU.sparse.numblocks", "1"),
                    ("GNU.sparse.offset", "\((Int64(4) << 30) - 4096)"), ("GNU.sparse.numbytes", "4096")])
            $0.entry(utf8("sparse"), data: [UInt8](repeating: 0xAB, count: 4096))
        }
    },
    CorpusCase("large sparse file under the limit", .extracted({ (out: String) throws in
        var st = stat()
        #expect(stat("\(out)/sparse", &st) == 0)
        #expect(st.st_size == 256 << 20)
        #expect(Int(st.st_blocks) * 512 < 4 << 20, "allocated \(st.st_blocks) blocks")
    })) { _ in
        try raw {
            $0.pax([("GNU.sparse.size", "\(256 << 20)"), ("GNU.sparse.numblocks", "1"),
                    ("GNU.sparse.offset", "\((256 << 20) - 4096)"), ("GNU.sparse.numbytes", "4096")])
            $0.entry(utf8("sparse"), data: [UInt8](repeating: 0xAB, count: 4096))
        }
    },
    CorpusCase("header that lies about its size", .rejected([.archive, .xz])) { _ in
        var tar = ustarHeader(name: utf8("liar"), size: 50_000_000) + [UInt8](repeating: 0x55, count: 4096)
        return try XZ.compress(tar, preset: 1)
    },

    // Floods and shapes that choke other tools.
    CorpusCase("flood of entries", limits: ExtractionLimits(maxEntries: 2000), overLimit) { s in
        try entriesXZ((0..<5000).map { TarEntry.file("f\($0)", "") }, in: s.top)
    },
    CorpusCase("flood of directories", limits: ExtractionLimits(maxEntries: 2000), overLimit) { s in
        try entriesXZ((0..<3000).map { TarEntry("d\($0 % 50)/e\($0)", .directory) }, in: s.top)
    },
    CorpusCase("deep path", overLimit) { s in
        try entriesXZ([.file(Array(repeating: "d", count: 100).joined(separator: "/") + "/f")], in: s.top)
    },
    CorpusCase("deep path built one directory at a time", overLimit) { s in
        try entriesXZ((1...80).map { TarEntry(Array(repeating: "d", count: $0).joined(separator: "/"), .directory) }, in: s.top)
    },
    CorpusCase("long component", overLimit) { s in try entriesXZ([.file(String(repeating: "n", count: 300))], in: s.top) },
    CorpusCase("long path", overLimit) { s in
        try entriesXZ([.file(Array(repeating: String(repeating: "p", count: 200), count: 30).joined(separator: "/"))], in: s.top)
    },
    CorpusCase("long symlink target", overLimit) { s in
        try entriesXZ([TarEntry("l", .symlink(Array(repeating: "t", count: 40).joined(separator: "/") + String(repeating: "x", count: 2000)))], in: s.top)
    },

    // Names with control characters and odd Unicode.
    CorpusCase("newline in a name", refused) { _ in try raw { $0.entry(utf8("a\nb")) } },
    CorpusCase("terminal escape in a name", refused) { _ in try raw { $0.entry(utf8("\u{1B}]0;pwned\u{7}")) } },
    CorpusCase("C1 CSI in a name", refused) { _ in try raw { $0.entry(utf8("x\u{9B}31m")) } },
    CorpusCase("NEL in a name", refused) { _ in try raw { $0.entry(utf8("line\u{85}break")) } },
    CorpusCase("bidi override in a name", refused) { _ in try raw { $0.entry(utf8("invoice\u{202E}fdp.sh")) } },
    CorpusCase("bidi isolate in a symlink target", refused) { _ in try raw { $0.entry(utf8("l"), typeflag: "2", link: utf8("a\u{2066}b")) } },
    CorpusCase("line separator in a name", refused) { _ in try raw { $0.entry(utf8("a\u{2028}b")) } },
    CorpusCase("overlong UTF-8 dots", refused) { _ in try raw { $0.entry([0xC0, 0xAE, 0xC0, 0xAE, 0x2F, 0x78]) } },
    CorpusCase("UTF-16 surrogate in UTF-8", refused) { _ in try raw { $0.entry([0x61, 0xED, 0xA0, 0x80]) } },
    CorpusCase("odd but printable Unicode", .extracted({ (out: String) throws in
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: out).map { Array($0.utf8) })
        for name in oddNames { #expect(names.contains(Array(name.utf8)), "\(name)") }
    })) { _ in try raw { tar in for name in oddNames { tar.entry(utf8(name), data: [1]) } } },
    CorpusCase("backslashes are plain characters", .extracted({ (out: String) throws in
        #expect(FileManager.default.fileExists(atPath: "\(out)/..\\..\\x"))
    })) { _ in try raw { $0.entry(utf8("..\\..\\x"), data: [1]) } },
]

/// Names that are odd but harmless: kept byte for byte (NFC and NFD forms are different files).
private let oddNames = ["café", "cafe\u{301}", "🦀 ferris", "名前", "a\u{200B}b", "a\u{FF0F}b", "\u{FEFF}bom", "𝔘𝔫𝔦", "-rf", " lead", "trail "]

// MARK: - The test

@Suite struct HostileCorpusTests {
    @Test(arguments: corpus)
    func hostileOutput(_ item: CorpusCase) async throws {
        try await withTemporaryDirectory { top in
            let sandbox = try CorpusSandbox(top)
            try sandbox.makeDisk(try item.archive(sandbox))
            let exclude: Set<String> = [sandbox.destination, sandbox.kept]
            let before = try snapshot(top, excluding: exclude)

            var succeeded = false
            do {
                _ = try OutputExtractor.extract(disk: sandbox.disk, to: sandbox.destination,
                                                keepingArchiveAt: sandbox.kept, limits: item.limits)
                succeeded = true
            } catch let error as ConstruirError {
                switch item.outcome() {
                case .rejected(let codes): #expect(codes.contains(error.code), "\(item.name): \(error)")
                case .eitherClean: break
                case .extracted: Issue.record("\(item.name): expected a clean result, got \(error)")
                }
                #expect(!FileManager.default.fileExists(atPath: sandbox.destination), "\(item.name): destination left behind")
            }
            if succeeded {
                try expectClean(sandbox.destination, case: item.name)
                switch item.outcome() {
                case .extracted(let check): try check(sandbox.destination)
                case .eitherClean: break
                case .rejected: Issue.record("\(item.name): extraction succeeded")
                }
            }
            let after = try snapshot(top, excluding: exclude)
            #expect(changes(before, after).isEmpty, "\(item.name): changed outside the output: \(changes(before, after))")

            // Published next to the earlier job, as the runner does; still nothing else changes.
            if succeeded {
                #expect(rename(sandbox.job, sandbox.published) == 0)
                let moved = Set(before.keys.filter { $0.hasPrefix(sandbox.job) })
                let published = try snapshot(top, excluding: [sandbox.published]).filter { $0.key != sandbox.published }
                let diff = changes(before.filter { !moved.contains($0.key) }, published)
                #expect(diff.isEmpty, "\(item.name): publishing changed \(diff)")
                try expectClean("\(sandbox.published)/output", case: item.name)
            }
        }
    }

    /// The corpus covers every class the volunteer-mode issue names.
    @Test func corpusCoversEveryClass() {
        let names = corpus.map(\.name).joined(separator: "\n")
        for word in ["dotdot", "absolute", "symlink", "earlier job", "hardlink", "device", "FIFO", "setuid", "xattrs",
                     "xz bomb", "sparse", "flood", "deep path", "long", "newline", "bidi", "Unicode"] {
            #expect(names.contains(word), "\(word)")
        }
    }
}
