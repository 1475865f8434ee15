/// The one form of `Range` a resuming download sends: `bytes=FIRST-` or `bytes=FIRST-LAST`.
struct ByteRange: Equatable {
    var first: Int64
    var last: Int64?

    /// Nil for a header that is absent or of another form (the whole file is sent then).
    init?(header: String?) {
        guard let header, header.hasPrefix("bytes="), !header.contains(",") else { return nil }
        let parts = header.dropFirst("bytes=".count).split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2, let first = Int64(parts[0]), first >= 0 else { return nil }
        if parts[1].isEmpty {
            last = nil
        } else {
            guard let last = Int64(parts[1]), last >= first else { return nil }
            self.last = last
        }
        self.first = first
    }
}
