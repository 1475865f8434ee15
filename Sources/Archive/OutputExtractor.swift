import Glibc
import CArchive
import ConstruirSystem
import Foundation
import XZ

/// Extracts a job's output, a tar stream produced by a malicious guest, into a fresh directory.
///
/// Why it is careful: every entry is checked in Swift before anything is written (see
/// `ExtractionLimits` and the rules below), and libarchive's disk writer runs with its SECURE
/// flags as a second line of defence. The rules:
/// - names: relative, no `..` component, not empty, no control characters (C0, C1), no bidi or line-separator
///   characters, valid UTF-8;
///   a leading `./` is dropped and the `./` entry itself is skipped;
/// - types: regular files, directories, symlinks and hardlinks only (no devices, FIFOs, sockets);
/// - symlinks: relative targets that stay inside the destination, with `..` only as leading
///   components; hardlinks: targets that pass the name rules and are not symlinks;
/// - modes: permission bits only (no setuid/setgid/sticky), group/other write removed, owner
///   always gets read/write (and search for directories); the executable bits are kept;
/// - no ownership, ACLs, xattrs or file flags are restored; modification times are.
///
/// All or nothing: on any error the destination directory is removed. The trimmed archive copy
/// (see `extract(disk:to:keepingArchiveAt:limits:)`) is kept whenever the xz stream itself is
/// complete and valid, even if its contents were rejected, so the job's owner can inspect it.
package struct OutputExtractor: Sendable {
    package var limits: ExtractionLimits

    package init(limits: ExtractionLimits = ExtractionLimits()) {
        self.limits = limits
    }

    /// Decodes the xz stream at the start of `disk` and extracts it into `destination`.
    ///
    /// - Parameters:
    ///   - destination: created by this call (mode 0755); its parent must exist, it must not.
    ///   - keepingArchiveAt: if set, exactly the xz stream's bytes (nothing after them) are kept
    ///     there. The file appears only when the stream decoded completely and validly (even if
    ///     extraction then failed); otherwise it is absent, as is `<path>.partial`.
    /// - Throws: `.xz` (empty disk, not xz, truncated/corrupt), `.limitExceeded`,
    ///   `.unsafeEntry`, `.archive` (malformed tar), `.system`, `.invalidArgument` (bad destination).
    package static func extract(disk: String, to destination: String, keepingArchiveAt archivePath: String? = nil,
                               limits: ExtractionLimits = ExtractionLimits()) throws(ConstruirError) -> ExtractionSummary {
        let reader = try XZStreamReader(path: disk, maxDecompressedBytes: limits.effectiveMaxTarStreamBytes,
                                        memoryLimit: limits.xzMemoryLimit, copyingStreamTo: archivePath,
                                        subject: "the output disk")
        do {
            return try OutputExtractor(limits: limits).extract(from: reader, to: destination)
        } catch {
            reader.discard()
            throw error
        }
    }

    /// Extracts the tar stream `reader` decodes into `destination` (created by this call; its
    /// parent must exist, it must not), then calls `reader.finish()` so the stream is consumed
    /// to its end and its compressed length known. On failure the destination is removed and the
    /// reader is still drained, so its trimmed copy is kept if the xz stream itself is valid.
    ///
    /// The xz stream is decoded on a second thread (`XZReadAhead`) while this one parses the tar
    /// and writes files, as `tar -xJf` overlaps `xz -d` with tar. That thread has ended by the
    /// time this returns or throws; the remainder after the tar's end is drained on this thread.
    package func extract(from reader: XZStreamReader, to destination: String) throws(ConstruirError) -> ExtractionSummary {
        let root = try Self.createDestination(destination)
        do {
            let (entries, bytes) = try Self.extractEntries(from: reader, into: root, limits: limits)
            try Self.tightenDirectoryModes(below: root)
            let compressedLength = try reader.finish()
            return ExtractionSummary(entries: entries, bytesWritten: bytes,
                                     compressedLength: compressedLength, tarStreamLength: reader.decompressedLength)
        } catch {
            try? FileManager.default.removeItem(atPath: root)
            _ = try? reader.finish()
            throw error
        }
    }

    /// Runs libarchive over the tar stream, decoded ahead on another thread. The decoder thread
    /// is stopped and joined, and libarchive's reader and disk writer freed, when this returns or
    /// throws: the reader is the caller's again and nothing still has files open while it cleans up.
    private static func extractEntries(from reader: XZStreamReader, into root: String,
                                       limits: ExtractionLimits) throws(ConstruirError) -> (entries: Int, bytes: Int64) {
        let readAhead = try XZReadAhead(reader)
        defer { readAhead.stop() }
        let extraction = try TarExtraction(context: StreamContext(readAhead: readAhead), root: root, limits: limits)
        try extraction.run()
        return (extraction.entriesWritten, extraction.bytesWritten)
    }

    /// Gives every directory below `root` the modes entries get: no group/other write, no
    /// special bits, owner rwx. Directories the archive names are already so; this is for those
    /// libarchive creates on its own as parents (`a/b` for an entry `a/b/c`): it makes them
    /// 0775 less the umask it read when its writer was made, and it reads the umask by setting
    /// it to 0 for a moment, so two extractions at once (two slots) can each see the other's 0.
    /// Seen: a parent made 0775 in a parallel test run.
    /// Walks with lstat/d_type, never through a symlink; nothing else writes here meanwhile.
    static func tightenDirectoryModes(below root: String) throws(ConstruirError) {
        var pending = [root]
        while let directory = pending.popLast() {
            guard let stream = opendir(directory) else {
                throw ConstruirError(.system, "cannot read the extracted directory \(directory)",
                                     cause: SystemError(call: "opendir", errno: errno, path: directory))
            }
            defer { closedir(stream) }
            while let entry = readdir(stream) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                guard name != ".", name != ".." else { continue }
                let path = "\(directory)/\(name)"
                var type = entry.pointee.d_type
                var st = stat()
                if type == UInt8(DT_UNKNOWN) || type == UInt8(DT_DIR) {
                    guard lstat(path, &st) == 0 else { continue }
                    type = (st.st_mode & S_IFMT) == S_IFDIR ? UInt8(DT_DIR) : UInt8(DT_REG)
                }
                guard type == UInt8(DT_DIR) else { continue }
                let mode = st.st_mode & 0o7777
                let wanted = (mode & 0o755) | 0o700
                if mode != wanted {
                    guard chmod(path, wanted) == 0 else {
                        throw ConstruirError(.system, "cannot set the mode of the extracted directory \(path)",
                                             cause: SystemError(call: "chmod", errno: errno, path: path))
                    }
                }
                pending.append(path)
            }
        }
    }

    /// Creates the destination and returns its canonical absolute path (no symlinks, which
    /// libarchive's SECURE_SYMLINKS would otherwise refuse to write through).
    static func createDestination(_ destination: String) throws(ConstruirError) -> String {
        let absolute = FileSystem.absolute(destination)
        let name = (absolute as NSString).lastPathComponent
        let parent = (absolute as NSString).deletingLastPathComponent
        guard !name.isEmpty, name != "/", name != ".", name != ".." else {
            throw ConstruirError(.invalidArgument, "invalid extraction destination \(destination)")
        }
        guard let resolved = realpath(parent, nil) else {
            throw ConstruirError(.invalidArgument, "the parent of extraction destination \(destination) does not exist",
                                 cause: SystemError(call: "realpath", errno: errno, path: parent))
        }
        let resolvedParent = String(cString: resolved)
        free(resolved)
        let root = resolvedParent == "/" ? "/\(name)" : "\(resolvedParent)/\(name)"
        do {
            try systemCall("mkdir", path: root) { mkdir(root, 0o755) }
        } catch {
            if error.errno == EEXIST {
                throw ConstruirError(.invalidArgument, "extraction destination \(root) already exists", cause: error)
            }
            throw ConstruirError(.system, "cannot create extraction destination \(root)", cause: error)
        }
        return root
    }
}

/// One extraction run: a libarchive reader over the xz stream and a disk writer below `root`.
private final class TarExtraction {
    let root: String
    let limits: ExtractionLimits
    let context: StreamContext
    let input: OpaquePointer
    let disk: OpaquePointer
    var entriesSeen = 0
    var entriesWritten = 0
    var bytesWritten: Int64 = 0

    static let diskFlags: Int32 =
        ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS
        // Modes are sanitised before writing, so restoring them exactly is safe, and it makes the
        // result independent of the process umask.
        | ARCHIVE_EXTRACT_PERM
        | ARCHIVE_EXTRACT_TIME
    // Not ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS: entries are written as `root/<checked path>`,
    // absolute by construction (libarchive would otherwise write relative to the process's
    // working directory). Absolute names in the archive are rejected before that.

    init(context: StreamContext, root: String, limits: ExtractionLimits) throws(ConstruirError) {
        self.root = root
        self.limits = limits
        self.context = context
        let input = try LibArchive.tarReader()
        guard let disk = archive_write_disk_new() else {
            archive_read_free(input)
            throw ConstruirError(.archive, "archive_write_disk_new failed")
        }
        self.input = input
        self.disk = disk
        archive_write_disk_set_options(disk, Self.diskFlags)
        let opened = context.open(input)
        if opened != ARCHIVE_OK {
            throw failure("cannot read the output archive", input)
        }
    }

    deinit {
        archive_read_free(input)
        archive_write_free(disk)
    }

    func run() throws(ConstruirError) {
        while true {
            var entryPointer: OpaquePointer?
            let status = archive_read_next_header(input, &entryPointer)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry = entryPointer else {
                throw failure("cannot read the output archive", input)
            }
            entriesSeen += 1
            if entriesSeen > limits.maxEntries {
                throw ConstruirError(.limitExceeded, "the output archive has more than \(limits.maxEntries) entries (entry count limit)")
            }
            try extract(entry)
        }
        if archive_write_close(disk) < ARCHIVE_WARN {
            throw failure("cannot finish extracting the output archive", disk)
        }
    }

    /// One entry, checked then written. Longer than 80 lines on purpose: every check an entry
    /// from a hostile guest must pass (name, type, links, sizes, totals) reads top to bottom in
    /// one place, in the order they apply (docs/security.md, "Extraction rules", lists them).
    private func extract(_ entry: OpaquePointer) throws(ConstruirError) {
        guard let rawName = LibArchive.path(of: entry) else {
            throw ConstruirError(.unsafeEntry, "archive entry #\(entriesSeen) has no name")
        }
        let path = try EntryPolicy.relativePath(rawName, role: "name", entry: rawName, limits: limits)
        let name = EntryPolicy.quoted(rawName)
        let type = archive_entry_filetype(entry)
        let hardlink = LibArchive.bytes(archive_entry_hardlink(entry))
        let symlink = LibArchive.bytes(archive_entry_symlink(entry))

        if path.components.isEmpty {
            // `.` or `./`: the destination itself, which already exists.
            guard type == construir_ae_ifdir(), hardlink == nil, symlink == nil else {
                throw ConstruirError(.unsafeEntry, "archive entry \(name) has an empty name")
            }
            return
        }

        var perm = archive_entry_perm(entry) & 0o755
        if let hardlink {
            guard symlink == nil else {
                throw ConstruirError(.unsafeEntry, "archive entry \(name) is both a hardlink and a symlink")
            }
            let target = try EntryPolicy.relativePath(hardlink, role: "hardlink target", entry: rawName, limits: limits)
            if target.components.isEmpty {
                throw ConstruirError(.unsafeEntry, "archive entry \(name): hardlink target is the destination itself")
            }
            // A hardlink to a symlink copies the symlink, whose relative target would then be
            // resolved from a different directory; refuse it rather than re-validate.
            let targetPath = absolute(target)
            var status = stat()
            if lstat(targetPath, &status) == 0 && (status.st_mode & S_IFMT) == S_IFLNK {
                throw ConstruirError(.unsafeEntry, "archive entry \(name): hardlink target \(EntryPolicy.quoted(hardlink)) is a symlink")
            }
            archive_entry_copy_hardlink(entry, targetPath)
            perm |= 0o600
        } else if let symlink {
            guard type == construir_ae_iflnk() else {
                throw ConstruirError(.unsafeEntry, "archive entry \(name) has a link target but is not a link")
            }
            try EntryPolicy.checkSymlinkTarget(symlink, link: path, entry: rawName, limits: limits)
            perm = 0o777
        } else if type == construir_ae_ifreg() {
            perm |= 0o600
        } else if type == construir_ae_ifdir() {
            perm |= 0o700
        } else {
            throw ConstruirError(.unsafeEntry, "archive entry \(name) is a \(Self.typeName(type)), which outputs may not contain")
        }

        // Declared size: write_disk extends a file to it even when the data is shorter (sparse
        // files), so it counts up front.
        let declared = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : 0
        if declared < 0 {
            throw ConstruirError(.unsafeEntry, "archive entry \(name) has a negative size")
        }
        let countsData = type == construir_ae_ifreg() || hardlink != nil
        var logicalSize = countsData ? declared : 0
        try checkTotal(adding: logicalSize, entry: name)

        // Only what the checks above approved reaches the disk.
        archive_entry_acl_clear(entry)
        archive_entry_xattr_clear(entry)
        archive_entry_copy_mac_metadata(entry, nil, 0)
        archive_entry_set_fflags(entry, 0, 0)
        archive_entry_set_uname(entry, nil)
        archive_entry_set_gname(entry, nil)
        archive_entry_set_uid(entry, Int64(getuid()))
        archive_entry_set_gid(entry, Int64(getgid()))
        archive_entry_set_perm(entry, perm)
        archive_entry_copy_pathname(entry, absolute(path))

        if archive_write_header(disk, entry) < ARCHIVE_WARN {
            throw failure("cannot extract archive entry \(name)", disk)
        }
        entriesWritten += 1

        while true {
            var block: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            let status = archive_read_data_block(input, &block, &size, &offset)
            if status == ARCHIVE_EOF { break }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN else {
                throw failure("cannot read the data of archive entry \(name)", input)
            }
            guard offset >= 0, size >= 0 else {
                throw ConstruirError(.archive, "archive entry \(name) has a data block at a negative offset")
            }
            let (end, overflow) = offset.addingReportingOverflow(Int64(size))
            if overflow {
                throw ConstruirError(.limitExceeded, "archive entry \(name) is larger than the total size limit (\(limits.maxTotalBytes) bytes)")
            }
            if end > logicalSize {
                try checkTotal(adding: end, entry: name)
                logicalSize = end
            }
            if size > 0, archive_write_data_block(disk, block, size, offset) < ARCHIVE_WARN {
                throw failure("cannot write the data of archive entry \(name)", disk)
            }
        }
        if archive_write_finish_entry(disk) < ARCHIVE_WARN {
            throw failure("cannot finish archive entry \(name)", disk)
        }
        bytesWritten += logicalSize
    }

    private func checkTotal(adding size: Int64, entry name: String) throws(ConstruirError) {
        let (total, overflow) = bytesWritten.addingReportingOverflow(size)
        if overflow || total > limits.maxTotalBytes {
            throw ConstruirError(.limitExceeded, "the output's files add up to more than \(limits.maxTotalBytes) bytes (total size limit), at archive entry \(name)")
        }
    }

    private func absolute(_ path: RelativePath) -> String {
        root + "/" + String(decoding: path.bytes, as: UTF8.self)
    }

    /// The reader's own error if it caused the failure, else libarchive's message.
    private func failure(_ what: String, _ archive: OpaquePointer) -> ConstruirError {
        LibArchive.failure(what, archive, cause: context.error)
    }

    private static func typeName(_ type: mode_t) -> String {
        switch UInt32(type) {
        case construir_ae_ifchr(): return "character device"
        case construir_ae_ifblk(): return "block device"
        case construir_ae_ififo(): return "FIFO"
        case construir_ae_ifsock(): return "socket"
        case 0: return "entry of unknown type"
        default: return "entry of type 0o\(String(type, radix: 8))"
        }
    }
}
