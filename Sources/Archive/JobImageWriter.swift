import ConstruirSystem
import XZ

/// Writes a job image: a tar stream (`TarWriter`) compressed on the fly into an xz file
/// (`XZWriter`), without a temporary tar file or a child process.
///
/// The bytes depend only on the entries and `xz` options (see `TarWriter` for the tar side; give
/// `XZWriter.Options.blockSize` for output that does not depend on the thread count).
/// If the writer is dropped or fails before `finish()` succeeds, the file at `path` is removed.
/// Not thread-safe.
package final class JobImageWriter {
    package let path: String
    /// Uncompressed tar bytes produced so far.
    package var tarLength: Int64 { tar.bytesWritten }

    private let xz: XZWriter
    private let tar: TarWriter

    /// Creates (or truncates) `path`.
    package init(path: String, xz options: XZWriter.Options) throws(ConstruirError) {
        self.path = path
        let xz = try XZWriter(path: path, options: options)
        self.xz = xz
        self.tar = try TarWriter { (bytes: UnsafeRawBufferPointer) throws(ConstruirError) in try xz.write(bytes) }
    }

    /// Writes a member's header; a regular file's data follows through `writeData`.
    package func append(_ entry: TarWriter.Entry) throws(ConstruirError) {
        try tar.append(entry)
    }

    /// Writes the next part of the current file's data.
    package func writeData(_ bytes: UnsafeRawBufferPointer) throws(ConstruirError) {
        try tar.writeData(bytes)
    }

    /// Writes the next part of the current file's data.
    package func writeData(_ bytes: [UInt8]) throws(ConstruirError) {
        try tar.writeData(bytes)
    }

    /// Appends a whole regular file.
    package func appendFile(path: [UInt8], contents: [UInt8], mode: UInt32, modificationTime: Int64) throws(ConstruirError) {
        try tar.append(TarWriter.Entry(path: path, kind: .file(size: Int64(contents.count)), mode: mode,
                                       modificationTime: modificationTime))
        try tar.writeData(contents)
    }

    /// Ends the tar stream, completes the xz stream and syncs the file. Returns the file's size
    /// (the compressed length).
    @discardableResult
    package func finish() throws(ConstruirError) -> Int64 {
        try tar.finish()
        return try xz.finish()
    }
}
