import XZ

/// Bounds on what a job's output may contain.
///
/// Why: the output is produced by an untrusted guest; without bounds a tiny archive could fill
/// the host's disk (a compression bomb), exhaust inodes, or create paths other tools choke on.
/// Exceeding any of these makes extraction fail with `.limitExceeded` naming the limit.
package struct ExtractionLimits: Sendable, Equatable {
    /// Sum of the logical sizes of all files written (sparse files count their full size).
    package var maxTotalBytes: Int64
    /// Number of entries (headers) in the archive, including the skipped `./`.
    package var maxEntries: Int
    /// Length in bytes of an entry's normalised path, and of a link's target.
    package var maxPathLength: Int
    /// Number of components in an entry's normalised path.
    package var maxPathDepth: Int
    /// Length in bytes of any one path component (including in link targets).
    package var maxComponentLength: Int
    /// Cap on the decompressed tar stream (data plus headers and padding); nil derives it from
    /// the limits above, leaving room for headers: see `effectiveMaxTarStreamBytes`.
    package var maxTarStreamBytes: Int64?
    /// liblzma's memory limit for decoding the output stream.
    package var xzMemoryLimit: UInt64

    package init(maxTotalBytes: Int64 = 1 << 30, maxEntries: Int = 100_000, maxPathLength: Int = 1024,
                maxPathDepth: Int = 64, maxComponentLength: Int = 255, maxTarStreamBytes: Int64? = nil,
                xzMemoryLimit: UInt64 = XZStreamReader.defaultMemoryLimit) {
        self.maxTotalBytes = maxTotalBytes
        self.maxEntries = maxEntries
        self.maxPathLength = maxPathLength
        self.maxPathDepth = maxPathDepth
        self.maxComponentLength = maxComponentLength
        self.maxTarStreamBytes = maxTarStreamBytes
        self.xzMemoryLimit = xzMemoryLimit
    }

    /// The decompressed-size cap handed to the xz reader: `maxTarStreamBytes`, or else the data
    /// limit plus 8 KiB per allowed entry (a header, a pax extended header and block padding)
    /// plus 1 MiB for the end-of-archive blocks and record padding.
    package var effectiveMaxTarStreamBytes: Int64 {
        if let maxTarStreamBytes { return maxTarStreamBytes }
        let (perEntry, overflow1) = Int64(max(maxEntries, 0)).multipliedReportingOverflow(by: 8 << 10)
        let (sum, overflow2) = maxTotalBytes.addingReportingOverflow(perEntry)
        let (total, overflow3) = sum.addingReportingOverflow(1 << 20)
        return overflow1 || overflow2 || overflow3 ? Int64.max : total
    }
}
