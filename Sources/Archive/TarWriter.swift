import Glibc
import CArchive
import ConstruirSystem
import XZ

/// Writes a tar stream with libarchive and hands every byte to a sink closure.
///
/// Why it exists: job images are built in-process (no `tar` child, no temporary tree) and must be
/// byte-reproducible. So the writer only emits what the caller says: a fixed format
/// (pax-restricted: plain ustar headers, plus a pax extended header only when ustar cannot hold
/// a name, a link target or a size), numeric owner 0/0 and no user or group names, the mode and
/// modification time given (whole seconds), and no atime, ctime, xattrs, ACLs or flags.
///
/// Usage: `append(_:)` a header, then for a regular file `writeData(_:)` exactly `size` bytes
/// (in as many calls as convenient), then the next header; `finish()` at the end.
/// Not thread-safe.
package final class TarWriter {
    /// One archive member. Paths are raw bytes (git paths need not be UTF-8).
    package struct Entry: Sendable, Equatable {
        package enum Kind: Sendable, Equatable {
            /// A regular file; `size` bytes of data must follow via `writeData`.
            case file(size: Int64)
            case directory
            /// A symbolic link to `target` (stored verbatim).
            case symlink(target: [UInt8])
            /// A hard link to the earlier member `target`.
            case hardlink(target: [UInt8])
        }

        package var path: [UInt8]
        package var kind: Kind
        /// Permission bits (0o7777 at most).
        package var mode: UInt32
        /// Modification time, seconds since the epoch.
        package var modificationTime: Int64

        package init(path: [UInt8], kind: Kind, mode: UInt32, modificationTime: Int64) {
            self.path = path
            self.kind = kind
            self.mode = mode
            self.modificationTime = modificationTime
        }

        package init(path: String, kind: Kind, mode: UInt32, modificationTime: Int64) {
            self.init(path: Array(path.utf8), kind: kind, mode: mode, modificationTime: modificationTime)
        }
    }

    /// Receives the archive's bytes, in order. Throwing aborts the archive.
    package typealias Sink = (UnsafeRawBufferPointer) throws(ConstruirError) -> Void

    /// Bytes handed to the sink so far.
    package var bytesWritten: Int64 { context.bytesWritten }

    private let archive: OpaquePointer
    private let entry: OpaquePointer
    private let context: SinkContext
    private var pendingData: Int64 = 0
    private var pendingPath: [UInt8] = []
    private var finished = false
    private var failure: ConstruirError?

    /// Starts a pax-restricted tar stream whose bytes go to `sink`.
    package init(sink: @escaping Sink) throws(ConstruirError) {
        guard let archive = archive_write_new() else {
            throw ConstruirError(.archive, "libarchive: cannot allocate a writer")
        }
        guard let entry = archive_entry_new() else {
            archive_write_free(archive)
            throw ConstruirError(.archive, "libarchive: cannot allocate an entry")
        }
        self.archive = archive
        self.entry = entry
        self.context = SinkContext(sink: sink)
        // From here on deinit releases both on a throw.
        try check(archive_write_set_format_pax_restricted(archive), "cannot select the pax format")
        try check(archive_write_add_filter_none(archive), "cannot select no compression")
        // Whole 10240-byte records, as tar(1) writes them: the output does not depend on how the
        // sink is called.
        try check(archive_write_set_bytes_per_block(archive, 10240), "cannot set the block size")
        let opaque = Unmanaged.passUnretained(context).toOpaque()
        try check(archive_write_open2(archive, opaque, nil, tarWriterWriteCallback, nil, nil),
                  "cannot open the tar stream")
    }

    deinit {
        // Freeing an unfinished archive would flush it into the sink; a failed or abandoned
        // writer must not produce more output, so the sink is cut off first.
        context.closed = true
        archive_write_free(archive)
        archive_entry_free(entry)
    }

    /// Writes the header of `entry`. A file's data follows through `writeData`.
    package func append(_ member: Entry) throws(ConstruirError) {
        try checkUsable()
        try completePendingData()
        guard !member.path.isEmpty, !member.path.contains(0) else {
            throw fail(ConstruirError(.invalidArgument, "tar entry name is empty or contains a NUL byte"))
        }
        guard member.mode & ~0o7777 == 0 else {
            throw fail(ConstruirError(.invalidArgument, "tar entry \(Self.printable(member.path)): mode \(String(member.mode, radix: 8)) is not a permission mode"))
        }
        archive_entry_clear(entry)
        setPath(member.path)
        archive_entry_set_uid(entry, 0)
        archive_entry_set_gid(entry, 0)
        archive_entry_set_mtime(entry, time_t(member.modificationTime), 0)
        switch member.kind {
        case .file(let size):
            guard size >= 0 else {
                throw fail(ConstruirError(.invalidArgument, "tar entry \(Self.printable(member.path)): negative size"))
            }
            archive_entry_set_filetype(entry, construir_ae_ifreg())
            archive_entry_set_size(entry, la_int64_t(size))
            pendingData = size
        case .directory:
            archive_entry_set_filetype(entry, construir_ae_ifdir())
            archive_entry_set_size(entry, 0)
        case .symlink(let target):
            guard !target.isEmpty, !target.contains(0) else {
                throw fail(ConstruirError(.invalidArgument, "tar entry \(Self.printable(member.path)): symlink target is empty or contains a NUL byte"))
            }
            archive_entry_set_filetype(entry, construir_ae_iflnk())
            archive_entry_set_size(entry, 0)
            setSymlink(target)
        case .hardlink(let target):
            guard !target.isEmpty, !target.contains(0) else {
                throw fail(ConstruirError(.invalidArgument, "tar entry \(Self.printable(member.path)): hardlink target is empty or contains a NUL byte"))
            }
            archive_entry_set_filetype(entry, construir_ae_ifreg())
            archive_entry_set_size(entry, 0)
            withCString(target) { archive_entry_copy_hardlink(entry, $0) }
        }
        archive_entry_set_perm(entry, mode_t(member.mode))
        pendingPath = member.path
        // A warning here means a name was stored as raw bytes (not UTF-8): that is what we want.
        let status = withUTF8Locale { archive_write_header(archive, entry) }
        try check(status, "cannot write the header of \(Self.printable(member.path))", acceptWarning: true)
    }

    /// Writes the next part of the current file's data.
    package func writeData(_ bytes: UnsafeRawBufferPointer) throws(ConstruirError) {
        try checkUsable()
        guard bytes.count > 0 else { return }
        guard Int64(bytes.count) <= pendingData else {
            throw fail(ConstruirError(.internalError, "tar entry \(Self.printable(pendingPath)): more data than its size"))
        }
        var offset = 0
        while offset < bytes.count {
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let n = archive_write_data(archive, chunk.baseAddress, chunk.count)
            if n < 0 || (n == 0 && chunk.count > 0) {
                throw fail(archiveError("cannot write the data of \(Self.printable(pendingPath))"))
            }
            offset += n
        }
        pendingData -= Int64(bytes.count)
    }

    /// Writes the next part of the current file's data.
    package func writeData(_ bytes: [UInt8]) throws(ConstruirError) {
        var thrown: ConstruirError?
        bytes.withUnsafeBytes { buffer in
            do throws(ConstruirError) { try writeData(buffer) } catch { thrown = error }
        }
        if let thrown { throw thrown }
    }

    /// Writes the end-of-archive blocks and flushes everything to the sink.
    package func finish() throws(ConstruirError) {
        if finished { return }
        try checkUsable()
        try completePendingData()
        try check(archive_write_close(archive), "cannot finish the tar stream")
        finished = true
    }

    // MARK: - Internals

    private func completePendingData() throws(ConstruirError) {
        guard pendingData == 0 else {
            throw fail(ConstruirError(.internalError, "tar entry \(Self.printable(pendingPath)): \(pendingData) bytes of data missing"))
        }
    }

    /// Names are given to libarchive as raw bytes. A name that needs a pax `path` record (long,
    /// or not ASCII) must be converted to UTF-8 for it, which libarchive does from the calling
    /// thread's locale; `archive_write_header` therefore runs under C.UTF-8 (see
    /// `withUTF8Locale`), so UTF-8 names are stored as they are whatever the process's locale.
    /// Names that are not UTF-8 are stored verbatim with `hdrcharset=BINARY`.
    private func setPath(_ path: [UInt8]) {
        withCString(path) { archive_entry_copy_pathname(entry, $0) }
    }

    private func setSymlink(_ target: [UInt8]) {
        withCString(target) { archive_entry_copy_symlink(entry, $0) }
    }

    private func withCString(_ bytes: [UInt8], _ body: (UnsafePointer<CChar>) -> Void) {
        (bytes + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
        }
    }

    private func check(_ status: Int32, _ what: String, acceptWarning: Bool = false) throws(ConstruirError) {
        if status == ARCHIVE_OK || (acceptWarning && status == ARCHIVE_WARN) { return }
        throw fail(archiveError(what))
    }

    /// The sink's own error if it failed, else libarchive's message.
    private func archiveError(_ what: String) -> ConstruirError {
        LibArchive.failure(what, archive, cause: context.error)
    }

    private func checkUsable() throws(ConstruirError) {
        if let failure { throw failure }
        if finished { throw ConstruirError(.internalError, "TarWriter used after finish()") }
    }

    private func fail(_ error: ConstruirError) -> ConstruirError {
        failure = error
        context.closed = true
        return error
    }

    static func printable(_ path: [UInt8]) -> String {
        EntryPolicy.quoted(path)
    }
}

/// C.UTF-8 as a locale object, for `uselocale`; nil if the C library has no such locale.
private nonisolated(unsafe) let utf8Locale: locale_t? = newlocale(LC_CTYPE_MASK, "C.UTF-8", nil)

/// Runs `body` with the calling thread (only) in the C.UTF-8 locale, so libarchive's character
/// set conversions see UTF-8 and do not depend on the environment.
private func withUTF8Locale<T>(_ body: () -> T) -> T {
    guard let utf8Locale else { return body() }
    let previous = uselocale(utf8Locale)
    defer { uselocale(previous) }
    return body()
}

/// The state libarchive's C callback reaches through its client-data pointer.
private final class SinkContext {
    let sink: TarWriter.Sink
    var bytesWritten: Int64 = 0
    var error: ConstruirError?
    /// Set once the writer failed or is being freed: no more bytes reach the sink.
    var closed = false

    init(sink: @escaping TarWriter.Sink) {
        self.sink = sink
    }
}

private func tarWriterWriteCallback(_ archive: OpaquePointer?, _ clientData: UnsafeMutableRawPointer?,
                                    _ buffer: UnsafeRawPointer?, _ length: Int) -> Int {
    guard let clientData else { return -1 }
    let context = Unmanaged<SinkContext>.fromOpaque(clientData).takeUnretainedValue()
    if context.closed || context.error != nil {
        if let archive { construir_archive_set_error(archive, EIO, "the archive was abandoned") }
        return -1
    }
    do {
        try context.sink(UnsafeRawBufferPointer(start: buffer, count: length))
    } catch {
        context.error = error
        if let archive { construir_archive_set_error(archive, EIO, error.message) }
        return -1
    }
    context.bytesWritten += Int64(length)
    return length
}
