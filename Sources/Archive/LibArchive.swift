import CArchive
import ConstruirSystem
import Glibc

/// The few things every use of libarchive here does the same way: a tar-only reader, its
/// errors, and its C strings as bytes (names are bytes: a tar may hold any).
enum LibArchive {
    /// A reader for tar (ustar, pax, GNU) only: the xz layer is already removed, and nothing
    /// else is expected. "empty" accepts a zero-length stream (an xz of nothing) as an archive
    /// without entries. The caller frees it (`archive_read_free`).
    static func tarReader() throws(ConstruirError) -> OpaquePointer {
        guard let input = archive_read_new() else { throw ConstruirError(.archive, "archive_read_new failed") }
        archive_read_support_format_tar(input)
        archive_read_support_format_empty(input)
        return input
    }

    /// Why `archive` failed at `what`: `cause`, when our side of the stream (a reader or a
    /// sink) failed first, else libarchive's message.
    static func failure(_ what: String, _ archive: OpaquePointer, cause: ConstruirError?) -> ConstruirError {
        if let cause { return cause }
        let detail = archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
        return ConstruirError(.archive, "\(what): \(detail)")
    }

    /// A C string's bytes; nil for a null pointer.
    static func bytes(_ pointer: UnsafePointer<CChar>?) -> [UInt8]? {
        guard let pointer else { return nil }
        return Array(UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)))
    }

    /// An entry's path as stored, or as UTF-8 when libarchive has only that form.
    static func path(of entry: OpaquePointer) -> [UInt8]? {
        bytes(archive_entry_pathname(entry) ?? archive_entry_pathname_utf8(entry))
    }
}
