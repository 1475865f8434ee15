import Glibc
import CArchive
import ConstruirSystem
import XZ

/// Walks the entries of the tar stream an `XZStreamReader` decodes, without writing anything:
/// for checks that only need names, types, sizes and the odd small file.
final class TarWalk {
    /// One header, valid only inside the `forEach` body that received it.
    struct Entry {
        let name: [UInt8]
        let type: UInt32
        /// Permission bits (`archive_entry_perm`).
        let mode: UInt32
        let size: Int64
        /// Seconds since the epoch.
        let modificationTime: Int64
        let hardlink: [UInt8]?
        let symlink: [UInt8]?
        fileprivate let walk: TarWalk

        /// Reads the entry's data, failing if it is longer than `limit`.
        func readData(limit: Int) throws(ConstruirError) -> [UInt8] {
            var data: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 16 << 10)
            while true {
                let n = chunk.withUnsafeMutableBytes { archive_read_data(walk.input, $0.baseAddress, $0.count) }
                if n == 0 { return data }
                if n < 0 { throw walk.failure("cannot read the data of \(EntryPolicy.quoted(name))") }
                data += chunk[0..<n]
                if data.count > limit {
                    throw ConstruirError(.limitExceeded, "\(EntryPolicy.quoted(name)) is larger than \(limit) bytes")
                }
            }
        }

        /// Hands the entry's data to `body` in chunks, without keeping it.
        func streamData(_ body: (UnsafeRawBufferPointer) -> Void) throws(ConstruirError) {
            let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
            defer { chunk.deallocate() }
            while true {
                let n = archive_read_data(walk.input, chunk.baseAddress, chunk.count)
                if n == 0 { return }
                if n < 0 { throw walk.failure("cannot read the data of \(EntryPolicy.quoted(name))") }
                body(UnsafeRawBufferPointer(rebasing: chunk[..<n]))
            }
        }
    }

    private let context: StreamContext
    private let input: OpaquePointer

    init(reader: XZStreamReader) throws(ConstruirError) {
        context = StreamContext(reader: reader)
        input = try LibArchive.tarReader()
        let opened = context.open(input)
        if opened != ARCHIVE_OK { throw failure("cannot read the archive") }
    }

    deinit { archive_read_free(input) }

    /// Calls `body` for each entry in order; data the body does not read is skipped.
    func forEach(_ body: (Entry) throws(ConstruirError) -> Void) throws(ConstruirError) {
        try walk { entry throws(ConstruirError) in
            try body(entry)
            return false
        }
    }

    /// Calls `body` for each entry in order until it returns true (then the rest is not read).
    func walk(until body: (Entry) throws(ConstruirError) -> Bool) throws(ConstruirError) {
        while true {
            var pointer: OpaquePointer?
            let status = archive_read_next_header(input, &pointer)
            if status == ARCHIVE_EOF { return }
            guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry = pointer else {
                throw failure("cannot read the archive")
            }
            guard let name = LibArchive.path(of: entry) else {
                throw ConstruirError(.unsafeEntry, "an archive entry has no name")
            }
            let size = archive_entry_size_is_set(entry) != 0 ? archive_entry_size(entry) : 0
            if try body(Entry(name: name, type: UInt32(archive_entry_filetype(entry)), mode: UInt32(archive_entry_perm(entry)), size: size,
                           modificationTime: Int64(archive_entry_mtime(entry)),
                           hardlink: LibArchive.bytes(archive_entry_hardlink(entry)),
                           symlink: LibArchive.bytes(archive_entry_symlink(entry)), walk: self)) { return }
        }
    }

    /// The reader's own error if it caused the failure, else libarchive's message.
    fileprivate func failure(_ what: String) -> ConstruirError {
        LibArchive.failure(what, input, cause: context.error)
    }
}

/// Feeds libarchive from the xz reader; the object behind libarchive's `client_data`.
///
/// Either it pulls from an `XZStreamReader` on the calling thread, or it hands libarchive the
/// chunks an `XZReadAhead` decoded on its own thread, without copying them.
final class StreamContext {
    private let next: () throws(ConstruirError) -> UnsafeRawBufferPointer
    /// The reader's error, kept so that it surfaces with its own code instead of libarchive's.
    var error: ConstruirError?

    /// Decodes on the calling thread, through a buffer of its own.
    init(reader: XZStreamReader) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 << 10, alignment: 16)
        let owner = BufferOwner(buffer)
        next = { () throws(ConstruirError) -> UnsafeRawBufferPointer in
            UnsafeRawBufferPointer(rebasing: owner.buffer[..<(try reader.read(into: owner.buffer))])
        }
    }

    /// Takes the chunks `readAhead` decodes; it must outlive this context's libarchive reader.
    init(readAhead: XZReadAhead) {
        next = { () throws(ConstruirError) -> UnsafeRawBufferPointer in try readAhead.next() }
    }

    /// Opens libarchive's reader `input` on this context; the context must outlive `input`.
    func open(_ input: OpaquePointer) -> Int32 {
        archive_read_open(input, Unmanaged.passUnretained(self).toOpaque(), nil, { archive, clientData, out in
            let context = Unmanaged<StreamContext>.fromOpaque(clientData!).takeUnretainedValue()
            do throws(ConstruirError) {
                let block = try context.next()
                out?.pointee = block.baseAddress
                return block.count
            } catch {
                context.error = error
                error.message.withCString { construir_archive_set_error(archive, EIO, $0) }
                return -1
            }
        }, nil)
    }
}

/// Frees a buffer with the closure that captured it.
private final class BufferOwner {
    let buffer: UnsafeMutableRawBufferPointer
    init(_ buffer: UnsafeMutableRawBufferPointer) { self.buffer = buffer }
    deinit { buffer.deallocate() }
}
