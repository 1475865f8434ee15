import CArchive
import ConstruirSystem
import Crypto
import JobModel
import XZ

/// The canonical digest of a job's output archive: what replicas of a job are compared by.
///
/// Two runners that built the same thing must get the same digest even when their tar wrote
/// entries in another order or stamped other times, so the digest covers only what a reader of
/// the output sees: each entry's name, type, permission bits, and its content (a file's
/// sha256, a link's target). Timestamps, owners and the order of entries are left out. The
/// definition is in docs/hub.md ("Replicas and quorum"); changing it changes every digest.
///
/// One record per entry, sorted by its bytes, each `sha256(record)` fed in order to the outer
/// sha256:
///
///     TYPE 0x00 NAME 0x00 MODE 0x00 CONTENT
///
/// TYPE is `file`, `dir`, `symlink`, `hardlink` or `other`; NAME is the entry's path without a
/// leading `./` or trailing `/` (`.` for the root); MODE four octal digits; CONTENT the file's
/// sha256 in hex, or the link's target, or nothing. Only the paths the job's `compare:`
/// includes (`OutputComparison`) have a record.
package enum OutputDigest {
    /// The digest of an output over the paths its job compares, and what it was made of.
    package struct Summary: Sendable, Equatable {
        package var digest: String
        /// The compared paths, each with its record's sha256 (what `differing` compares).
        package var records: [String: String]
        /// The paths `comparison` left out, sorted.
        package var leftOut: [String]

        /// The compared paths, sorted.
        package var compared: [String] { records.keys.sorted() }

        /// The paths whose record differs between two outputs, or that only one has; sorted.
        package func differing(from other: Summary) -> [String] {
            Set(records.keys).union(other.records.keys).filter { records[$0] != other.records[$0] }.sorted()
        }
    }

    /// The digest of the tar.xz at `archive` (a kept `output.tar.xz`) over every path.
    package static func of(archive: String, maxDecompressedBytes: Int64 = ExtractionLimits().effectiveMaxTarStreamBytes) throws(ConstruirError) -> String {
        try summary(archive: archive, comparing: .everything, maxDecompressedBytes: maxDecompressedBytes).digest
    }

    /// The digest of the tar.xz at `archive` over the paths `comparison` includes, decoding at
    /// most `maxDecompressedBytes`. Blocking: decodes and hashes the whole archive.
    package static func summary(archive: String, comparing comparison: OutputComparison,
                                maxDecompressedBytes: Int64 = ExtractionLimits().effectiveMaxTarStreamBytes) throws(ConstruirError) -> Summary {
        let reader = try XZStreamReader(path: archive, maxDecompressedBytes: maxDecompressedBytes, subject: "the output archive")
        defer { reader.discard() }
        let walk = try TarWalk(reader: reader)
        var records: [[UInt8]] = []
        var byPath: [String: String] = [:]
        var leftOut: [String] = []
        try walk.forEach { entry throws(ConstruirError) in
            let name = normalised(entry.name)
            let path = String(decoding: name, as: UTF8.self)
            guard comparison.includes(path) else {
                leftOut.append(path)
                return
            }
            let record = try self.record(entry, name: name)
            records.append(record)
            let hash = Hex.string(SHA256.hash(data: record))
            // A path twice in one archive: both records count.
            byPath[path] = byPath[path].map { $0 + "+" + hash } ?? hash
        }
        _ = try reader.finish()
        var outer = SHA256()
        for record in records.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            outer.update(data: Array(SHA256.hash(data: record)))
        }
        return Summary(digest: Hex.string(outer.finalize()), records: byPath, leftOut: leftOut.sorted())
    }

    private static func record(_ entry: TarWalk.Entry, name: [UInt8]) throws(ConstruirError) -> [UInt8] {
        var content: [UInt8] = []
        let type: String
        if let target = entry.hardlink {
            type = "hardlink"
            content = normalised(target)
        } else if entry.type == construir_ae_ifreg() {
            type = "file"
            var hash = SHA256()
            try entry.streamData { hash.update(bufferPointer: $0) }
            content = Array(Hex.string(hash.finalize()).utf8)
        } else if entry.type == construir_ae_ifdir() {
            type = "dir"
        } else if entry.type == construir_ae_iflnk() {
            type = "symlink"
            content = entry.symlink ?? []
        } else {
            type = "other"
        }
        let mode = String(entry.mode & 0o7777, radix: 8)
        return Array(type.utf8) + [0] + name + [0]
            + Array((String(repeating: "0", count: max(0, 4 - mode.count)) + mode).utf8) + [0] + content
    }

    /// `./a/b/` → `a/b`; `./` → `.`: tar writes the same path either way depending on how it
    /// was called.
    static func normalised(_ name: [UInt8]) -> [UInt8] {
        var bytes = name[...]
        while bytes.starts(with: [0x2e, 0x2f]) { bytes = bytes.dropFirst(2) }  // "./"
        while bytes.count > 1, bytes.last == 0x2f { bytes = bytes.dropLast() }
        return bytes.isEmpty || bytes == [0x2f] ? [0x2e] : Array(bytes)
    }
}
