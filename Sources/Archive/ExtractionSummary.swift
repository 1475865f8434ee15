/// What an extraction produced, so the runner can record sizes.
public struct ExtractionSummary: Sendable, Equatable {
    /// Entries created in the destination (files, directories, symlinks, hardlinks);
    /// the archive's `./` entry is not counted.
    public var entries: Int
    /// Logical bytes of file data written (what counts against `maxTotalBytes`).
    public var bytesWritten: Int64
    /// Exact length of the xz stream, i.e. the size of the trimmed `output.tar.xz`.
    public var compressedLength: Int64
    /// Length of the decompressed tar stream.
    public var tarStreamLength: Int64

    public init(entries: Int, bytesWritten: Int64, compressedLength: Int64, tarStreamLength: Int64) {
        self.entries = entries
        self.bytesWritten = bytesWritten
        self.compressedLength = compressedLength
        self.tarStreamLength = tarStreamLength
    }
}
