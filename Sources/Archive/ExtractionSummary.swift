/// What an extraction produced, so the runner can record sizes.
package struct ExtractionSummary: Sendable, Equatable {
    /// Entries created in the destination (files, directories, symlinks, hardlinks);
    /// the archive's `./` entry is not counted.
    package var entries: Int
    /// Logical bytes of file data written (what counts against `maxTotalBytes`).
    package var bytesWritten: Int64
    /// Exact length of the xz stream, i.e. the size of the trimmed `output.tar.xz`.
    package var compressedLength: Int64
    /// Length of the decompressed tar stream.
    package var tarStreamLength: Int64

    package init(entries: Int, bytesWritten: Int64, compressedLength: Int64, tarStreamLength: Int64) {
        self.entries = entries
        self.bytesWritten = bytesWritten
        self.compressedLength = compressedLength
        self.tarStreamLength = tarStreamLength
    }
}
