import Glibc

/// Bounds on a submitted job image, checked on the host before any VM boots.
package struct JobImageLimits: Sendable, Equatable {
    /// Size of the submitted file (the tar.xz and its zero padding).
    package var maxFileBytes: Int64
    /// Sum of the sizes of the files the job unpacks to inside the guest.
    package var maxUnpackedBytes: Int64
    package var maxEntries: Int
    /// Largest `job/construir.yml` read.
    package var maxManifestBytes: Int

    package init(maxFileBytes: Int64 = 4 << 30, maxUnpackedBytes: Int64 = 16 << 30,
                maxEntries: Int = 1_000_000, maxManifestBytes: Int = 64 << 10) {
        self.maxFileBytes = maxFileBytes
        self.maxUnpackedBytes = maxUnpackedBytes
        self.maxEntries = maxEntries
        self.maxManifestBytes = maxManifestBytes
    }
}
