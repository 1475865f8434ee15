import Glibc
import CConstruir
import Foundation

/// The few file operations the runner's state machine relies on, with the guarantees it needs
/// (no silent overwrite, durability of renames) spelled out.
package enum FileSystem {
    /// Renames `from` to `to`, failing with EEXIST instead of replacing an existing `to`
    /// (renameat2 RENAME_NOREPLACE). This is what makes a claim exclusive.
    package static func renameNoReplace(_ from: String, _ to: String) throws(SystemError) {
        try systemCall("renameat2", path: "\(from) -> \(to)") {
            construir_rename_noreplace(from, to)
        }
    }

    /// Swaps `a` and `b`, both of which must exist (renameat2 RENAME_EXCHANGE): one step, so a
    /// reader of either path sees the old entry or the new one, never neither. This is how a
    /// pulled image replaces a directory that is already there.
    package static func exchange(_ a: String, _ b: String) throws(SystemError) {
        try systemCall("renameat2", path: "\(a) <-> \(b)") {
            construir_rename_exchange(a, b)
        }
    }

    /// Renames `from` to `to`, replacing `to` if it exists (rename(2): atomic within a filesystem).
    package static func renameReplacing(_ from: String, _ to: String) throws(SystemError) {
        try systemCall("rename", path: "\(from) -> \(to)") { Glibc.rename(from, to) }
    }

    /// The first `count` bytes of the file at `path` (fewer when it is shorter). Blocking.
    package static func readPrefix(of path: String, count: Int) throws(SystemError) -> [UInt8] {
        let fd = try systemCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 1)
        defer { buffer.deallocate() }
        var filled = 0
        while filled < count {
            let read = try systemCall("read", path: path) { Glibc.read(fd, buffer.baseAddress! + filled, count - filled) }
            if read == 0 { break }
            filled += read
        }
        return [UInt8](buffer.prefix(filled))
    }

    /// Flushes a file or directory to stable storage.
    package static func fsync(path: String) throws(SystemError) {
        let fd = try systemCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        try systemCall("fsync", path: path) { Glibc.fsync(fd) }
    }

    /// Flushes the directory that holds `path`, so that a rename into it survives a crash.
    package static func fsyncParent(of path: String) throws(SystemError) {
        let parent = (path as NSString).deletingLastPathComponent
        try fsync(path: parent.isEmpty ? "." : parent)
    }

    /// Replaces `path` with `data` so that a crash leaves either the old file or the new one, and
    /// the new one survives: written to a hidden temporary of this process's own beside it
    /// (created with `mode`, less the umask), flushed, renamed over it, and the directory flushed.
    /// Two processes replacing the same file never write into each other's temporary.
    package static func writeDurably(_ data: Data, to path: String, mode: mode_t = 0o666) throws(SystemError) {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = "\(directory.isEmpty ? "." : directory)/.\((path as NSString).lastPathComponent).\(getpid()).tmp"
        do throws(SystemError) {
            let fd = try systemCall("open", path: temporary) {
                open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)
            }
            defer { close(fd) }
            var offset = 0
            while offset < data.count {
                offset += try systemCall("write", path: temporary) {
                    data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
                }
            }
            try systemCall("fsync", path: temporary) { Glibc.fsync(fd) }
            try systemCall("rename", path: temporary) { rename(temporary, path) }
        } catch {
            unlink(temporary)
            throw error
        }
        try fsync(path: directory.isEmpty ? "." : directory)
    }

    package static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    package static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    package static func size(of path: String) throws(SystemError) -> Int64 {
        var st = stat()
        try systemCall("stat", path: path) { stat(path, &st) }
        return Int64(st.st_size)
    }

    /// `path`'s mtime in seconds since 1970 (a symlink's own), 0 when it does not exist.
    package static func modificationTime(of path: String) -> TimeInterval {
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        return Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
    }

    package static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: Int(mode)])
    }

    /// Creates (or truncates) a sparse file of `size` bytes: reads as zeros, takes no space.
    package static func createSparseFile(_ path: String, size: Int64, mode: mode_t = 0o644) throws(SystemError) {
        let fd = try systemCall("open", path: path) { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        defer { close(fd) }
        try systemCall("ftruncate", path: path) { ftruncate(fd, off_t(size)) }
    }

    /// Writes the whole of `source` into the existing file `destination` from offset 0, in the
    /// kernel (`copy_file_range`: no copy through this process, a reflink where the file system
    /// shares blocks). The rest of `destination` is left as it was. Returns the bytes copied.
    @discardableResult
    package static func copyContents(of source: String, into destination: String) throws(SystemError) -> Int64 {
        let input = try systemCall("open", path: source) { open(source, O_RDONLY | O_CLOEXEC) }
        defer { close(input) }
        let output = try systemCall("open", path: destination) { open(destination, O_WRONLY | O_CLOEXEC) }
        defer { close(output) }
        var copied: Int64 = 0
        while true {
            let count = try systemCall("copy_file_range", path: source) { construir_copy_file_range(input, output, 1 << 30) }
            if count == 0 { return copied }
            copied += Int64(count)
        }
    }

    /// Writes `bytes` into the existing file `path` at offset 0, leaving the rest as it was.
    package static func overwritePrefix(of path: String, with bytes: [UInt8]) throws(SystemError) {
        let fd = try systemCall("open", path: path) { open(path, O_WRONLY | O_CLOEXEC) }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let written = try systemCall("pwrite", path: path) {
                bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + offset, $0.count - offset, off_t(offset)) }
            }
            offset += written
        }
    }

    /// An absolute, normalised form of `path` relative to the current directory.
    package static func absolute(_ path: String) -> String {
        let url = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        return url.standardizedFileURL.path
    }
}
