import JobModel

/// What the host learned from reading a job image to its end.
public struct JobImageInspection: Sendable, Equatable {
    public var entries: Int
    public var unpackedBytes: Int64
    /// Length of the xz stream; the rest of the file is zero padding.
    public var compressedLength: Int64
    /// The bytes of `job/construir.yml`, when the job has one.
    public var manifest: [UInt8]?
    /// What `job/source.json` says the job was made from, when the job has one.
    public var source: PackagedSource? = nil
}
