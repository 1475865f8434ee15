import JobModel

/// What the host learned from reading a job image to its end.
package struct JobImageInspection: Sendable, Equatable {
    package var entries: Int
    package var unpackedBytes: Int64
    /// Length of the xz stream; the rest of the file is zero padding.
    package var compressedLength: Int64
    /// The bytes of `job/construir.yml`, when the job has one.
    package var manifest: [UInt8]?
    /// What `job/source.json` says the job was made from, when the job has one.
    package var source: PackagedSource? = nil
}
