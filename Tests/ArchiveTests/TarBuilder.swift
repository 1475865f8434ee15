import CArchive
import ConstruirSystem
import Foundation
import XZ

/// One entry for `writeTarXZ`: exactly what ends up in the archive, however hostile.
struct TarEntry {
    enum Kind {
        case file([UInt8])
        /// A regular file of `count` zero bytes, written in chunks (for bombs).
        case zeros(Int)
        /// A sparse file of logical size `size` with data (0xAB bytes) only in `regions`.
        case sparse(size: Int64, regions: [(offset: Int64, length: Int64)])
        case directory
        case symlink(String)
        case hardlink(String)
        case characterDevice
        case blockDevice
        case fifo
    }

    var path: String
    var kind: Kind
    var mode: mode_t

    init(_ path: String, _ kind: Kind, mode: mode_t? = nil) {
        self.path = path
        self.kind = kind
        switch kind {
        case .directory: self.mode = mode ?? 0o755
        case .symlink: self.mode = mode ?? 0o777
        default: self.mode = mode ?? 0o644
        }
    }

    static func file(_ path: String, _ text: String = "x", mode: mode_t? = nil) -> TarEntry {
        TarEntry(path, .file(Array(text.utf8)), mode: mode)
    }
}

struct TarBuilderError: Error, CustomStringConvertible {
    var description: String
}

/// Writes `entries` as a pax tar, xz-compressed by libarchive, to `path`.
/// libarchive's writer stores names and link targets verbatim, unlike GNU tar, which strips
/// `..` and leading `/`; that is what lets tests build hostile archives.
func writeTarXZ(_ entries: [TarEntry], to path: String) throws {
    guard let archive = archive_write_new() else { throw TarBuilderError(description: "archive_write_new") }
    defer { archive_write_free(archive) }
    func check(_ status: Int32, _ what: String) throws {
        if status < ARCHIVE_WARN {
            let detail = archive_error_string(archive).map { String(cString: $0) } ?? "?"
            throw TarBuilderError(description: "\(what): \(detail)")
        }
    }
    try check(archive_write_set_format_pax_restricted(archive), "format")
    try check(archive_write_add_filter_xz(archive), "xz filter")
    try check(archive_write_set_filter_option(archive, "xz", "compression-level", "1"), "xz level")
    try check(archive_write_open_filename(archive, path), "open \(path)")

    for item in entries {
        guard let entry = archive_entry_new() else { throw TarBuilderError(description: "archive_entry_new") }
        defer { archive_entry_free(entry) }
        archive_entry_copy_pathname(entry, item.path)
        archive_entry_set_perm(entry, item.mode)
        archive_entry_set_mtime(entry, 1_700_000_000, 0)
        var data: [UInt8] = []
        var zeros = 0
        var sparseData: (size: Int64, regions: [(offset: Int64, length: Int64)])?
        switch item.kind {
        case .file(let bytes):
            archive_entry_set_filetype(entry, construir_ae_ifreg())
            archive_entry_set_size(entry, Int64(bytes.count))
            data = bytes
        case .zeros(let count):
            archive_entry_set_filetype(entry, construir_ae_ifreg())
            archive_entry_set_size(entry, Int64(count))
            zeros = count
        case .sparse(let size, let regions):
            archive_entry_set_filetype(entry, construir_ae_ifreg())
            archive_entry_set_size(entry, size)
            for region in regions { archive_entry_sparse_add_entry(entry, region.offset, region.length) }
            sparseData = (size, regions)
        case .directory:
            archive_entry_set_filetype(entry, construir_ae_ifdir())
        case .symlink(let target):
            archive_entry_set_filetype(entry, construir_ae_iflnk())
            archive_entry_copy_symlink(entry, target)
        case .hardlink(let target):
            archive_entry_set_filetype(entry, construir_ae_ifreg())
            archive_entry_copy_hardlink(entry, target)
            archive_entry_set_size(entry, 0)
        case .characterDevice:
            archive_entry_set_filetype(entry, construir_ae_ifchr())
            archive_entry_set_rdevmajor(entry, 1)
            archive_entry_set_rdevminor(entry, 3)
        case .blockDevice:
            archive_entry_set_filetype(entry, construir_ae_ifblk())
            archive_entry_set_rdevmajor(entry, 7)
            archive_entry_set_rdevminor(entry, 0)
        case .fifo:
            archive_entry_set_filetype(entry, construir_ae_ififo())
        }
        try check(archive_write_header(archive, entry), "header \(item.path)")
        if !data.isEmpty {
            let written = data.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, $0.count) }
            if written != data.count { throw TarBuilderError(description: "data \(item.path)") }
        }
        if zeros > 0 {
            let chunk = [UInt8](repeating: 0, count: 1 << 20)
            var left = zeros
            while left > 0 {
                let n = min(left, chunk.count)
                let written = chunk.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, n) }
                if written != n { throw TarBuilderError(description: "data \(item.path)") }
                left -= n
            }
        }
        if let sparseData {
            // The pax writer takes the logical contents and stores only the listed regions.
            var logical = [UInt8](repeating: 0, count: Int(sparseData.size))
            for region in sparseData.regions {
                for i in Int(region.offset)..<Int(region.offset + region.length) { logical[i] = 0xAB }
            }
            let written = logical.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, $0.count) }
            if written < 0 { throw TarBuilderError(description: "sparse data \(item.path)") }
        }
    }
    try check(archive_write_close(archive), "close")
}

/// A raw ustar header block, for archives no writer will produce (lying sizes, odd bytes).
func ustarHeader(name: [UInt8], size: Int, typeflag: UInt8 = UInt8(ascii: "0"), linkname: [UInt8] = [], mode: Int = 0o644) -> [UInt8] {
    var header = [UInt8](repeating: 0, count: 512)
    func put(_ bytes: [UInt8], at offset: Int, max: Int) {
        for (i, byte) in bytes.prefix(max).enumerated() { header[offset + i] = byte }
    }
    func octal(_ value: Int, width: Int) -> [UInt8] {
        let digits = String(value, radix: 8)
        return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
    }
    put(name, at: 0, max: 100)
    put(octal(mode, width: 8), at: 100, max: 8)
    put(octal(0, width: 8), at: 108, max: 8)
    put(octal(0, width: 8), at: 116, max: 8)
    put(octal(size, width: 12), at: 124, max: 12)
    put(octal(1_700_000_000, width: 12), at: 136, max: 12)
    put(Array(repeating: UInt8(ascii: " "), count: 8), at: 148, max: 8)
    header[156] = typeflag
    put(linkname, at: 157, max: 100)
    put(Array("ustar\0".utf8), at: 257, max: 6)
    put(Array("00".utf8), at: 263, max: 2)
    let sum = header.reduce(0) { $0 + Int($1) }
    put(octal(sum, width: 7) + [UInt8(ascii: " ")], at: 148, max: 8)
    return header
}

/// Pads tar data to a 512-byte block.
func tarPadded(_ data: [UInt8]) -> [UInt8] {
    data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
}

/// The body of a pax extended header: "<length> <key>=<value>\n" records.
func paxRecords(_ records: [(String, String)]) -> [UInt8] {
    var result: [UInt8] = []
    for (key, value) in records {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).utf8.count + body.utf8.count != length { length += 1 }
        result += Array("\(length)\(body)".utf8)
    }
    return result
}
