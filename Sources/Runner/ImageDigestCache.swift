import Glibc
import ConstruirSystem
import Foundation

/// Verified image digests. An image's files are hashed and checked against its image.json once,
/// and again only when a file's identity changes: its inode, size, mtime or ctime, or image.json.
/// An image that does not match is refused (the error is cached the same way).
///
/// With a `FileDigestStore`, the sha256 of each file also outlives the process: `construir
/// run-once` is a new process every time and would otherwise hash ~75 MB of image before each
/// job. The check against image.json still runs every time; only the hashing is remembered.
final class ImageDigestCache: @unchecked Sendable {
    private let lock = NSLock()
    private var cache: [String: (key: String, digest: String?, error: String?)] = [:]
    private let store: FileDigestStore?

    /// - Parameter persistingTo: where file digests are remembered across processes; nil: not.
    init(persistingTo path: String? = nil) {
        store = path.map { FileDigestStore(path: $0) }
    }

    func digest(of image: BuildImage) throws -> String {
        var key = ""
        for file in image.verifiedFiles + ["image.json"] {
            guard let identity = FileIdentity(path: "\(image.directory)/\(file)") else { return try verifiedDigest(of: image) }
            key += "\(file):\(identity);"
        }
        lock.lock()
        let hit = cache[image.directory]
        lock.unlock()
        if let hit, hit.key == key {
            if let digest = hit.digest { return digest }
            throw ConstruirError(.invalidArgument, hit.error ?? "build image \(image.index) does not match its image.json")
        }
        do {
            let digest = try verifiedDigest(of: image)
            lock.lock(); cache[image.directory] = (key, digest, nil); lock.unlock()
            return digest
        } catch {
            lock.lock(); cache[image.directory] = (key, nil, "\(error)"); lock.unlock()
            throw error
        }
    }

    private func verifiedDigest(of image: BuildImage) throws -> String {
        guard let store else { return try image.verifiedDigest() }
        defer { store.save() }
        return try image.verifiedDigest(sha256: store.sha256(ofFile:))
    }
}

/// What identifies a file's content without reading it: device, inode, size, mtime and ctime
/// (nanoseconds). Any write changes the ctime, which no user can set back.
struct FileIdentity: Codable, Equatable, CustomStringConvertible {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var mtime: Int64
    var ctime: Int64

    init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        self.init(st)
    }

    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        ctime = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
    }

    var description: String { "\(device):\(inode):\(size):\(mtime):\(ctime)" }
}

/// The sha256 of files by path and `FileIdentity`, kept in a small JSON file (the runner's
/// `STATE/image-digests.json`) so that a new process need not hash unchanged images again.
///
/// Why it can be trusted: an entry is used only while the file's identity is exactly the one it
/// was hashed with, and a digest still has to match image.json, so a stale entry can only cause
/// a re-hash. The file itself is used only when it is a regular file owned by this user and
/// writable by nobody else; anything unreadable, torn or malformed is ignored and rewritten.
/// A file changed less than a second before it was hashed is not remembered: its timestamps
/// may not yet tell a second write in the same clock tick from the first.
final class FileDigestStore: @unchecked Sendable {
    struct Entry: Codable, Equatable {
        var identity: FileIdentity
        var sha256: String
    }

    private struct Contents: Codable {
        var version: Int
        var files: [String: Entry]
    }

    static let version = 1
    /// Larger than any real store (a few entries per image); a bigger file is not read.
    static let maxFileSize = 1 << 20

    let path: String
    private let lock = NSLock()
    private var entries: [String: Entry]?
    private var changed = false

    init(path: String) { self.path = path }

    /// The sha256 of `file`: remembered if its identity is unchanged, else hashed (and
    /// remembered for `save()`).
    func sha256(ofFile file: String) throws -> String {
        guard let before = FileIdentity(path: file) else { return try BuildImage.sha256(ofFile: file) }
        if let entry = lock.withLock({ loaded()[file] }), entry.identity == before { return entry.sha256 }
        var started = timespec()
        clock_gettime(CLOCK_REALTIME, &started)
        let digest = try BuildImage.sha256(ofFile: file)
        let settled = before.ctime < (Int64(started.tv_sec) - 1) * 1_000_000_000 + Int64(started.tv_nsec)
        if settled, FileIdentity(path: file) == before {
            lock.withLock {
                entries?[file] = Entry(identity: before, sha256: digest)
                changed = true
            }
        }
        return digest
    }

    /// Writes the new entries, merged with what other processes wrote meanwhile, atomically
    /// (`FileSystem.writeDurably`, mode 0600). Entries whose file changed are dropped.
    /// Best effort: a store that cannot be written only means hashing again next time.
    func save() {
        lock.withLock {
            guard changed, let mine = entries else { return }
            var merged = Self.read(path) ?? [:]
            merged.merge(mine) { _, new in new }
            merged = merged.filter { FileIdentity(path: $0.key) == $0.value.identity }
            guard let data = try? JSONEncoder().encode(Contents(version: Self.version, files: merged)) else { return }
            if (try? FileSystem.writeDurably(data, to: path, mode: 0o600)) != nil {
                entries = merged
                changed = false
            }
        }
    }

    /// The entries, read from the file on first use. Call with `lock` held.
    private func loaded() -> [String: Entry] {
        if let entries { return entries }
        let read = Self.read(path) ?? [:]
        entries = read
        return read
    }

    /// The file's entries, or nil when it is missing, not trustworthy, or not a valid store.
    static func read(_ path: String) -> [String: Entry]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, st.st_uid == geteuid(),
              st.st_mode & 0o022 == 0, st.st_size <= maxFileSize else { return nil }
        var data = Data(count: Int(st.st_size))
        let count = data.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count == Int(st.st_size),
              let contents = try? JSONDecoder().decode(Contents.self, from: data),
              contents.version == version else { return nil }
        return contents.files.filter { $0.value.sha256.utf8.count == 64 && $0.value.sha256.utf8.allSatisfy(\.isLowercaseHex) }
    }
}

private extension UInt8 {
    var isLowercaseHex: Bool { (0x30...0x39).contains(self) || (0x61...0x66).contains(self) }
}
