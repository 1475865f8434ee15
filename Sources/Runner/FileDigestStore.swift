import JobModel
import ConstruirSystem
import Foundation
import Glibc
import Synchronization

/// The sha256 of files by path and `FileIdentity`, kept in a small JSON file (the runner's
/// `STATE/image-digests.json`) so that a new process need not hash unchanged images again.
///
/// Why it can be trusted: an entry is used only while the file's identity is exactly the one it
/// was hashed with, and a digest still has to match image.json, so a stale entry can only cause
/// a re-hash. The file itself is used only when it is a regular file owned by this user and
/// writable by nobody else; anything unreadable, torn or malformed is ignored and rewritten.
/// A file changed less than a second before it was hashed is not remembered: its timestamps
/// may not yet tell a second write in the same clock tick from the first.
final class FileDigestStore: Sendable {
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
    private struct State {
        /// Read from the file on first use.
        var entries: [String: Entry]?
        var changed = false
    }

    private let state = Mutex(State())

    init(path: String) { self.path = path }

    /// The sha256 of `file`: remembered if its identity is unchanged, else hashed (and
    /// remembered for `save()`).
    func sha256(ofFile file: String) throws -> String {
        guard let before = FileIdentity(path: file) else { return try BuildImage.sha256(ofFile: file) }
        if let entry = state.withLock({ Self.loaded(&$0, from: path)[file] }), entry.identity == before { return entry.sha256 }
        var started = timespec()
        clock_gettime(CLOCK_REALTIME, &started)
        let digest = try BuildImage.sha256(ofFile: file)
        let settled = before.ctime < (Int64(started.tv_sec) - 1) * 1_000_000_000 + Int64(started.tv_nsec)
        if settled, FileIdentity(path: file) == before {
            state.withLock { state in
                state.entries?[file] = Entry(identity: before, sha256: digest)
                state.changed = true
            }
        }
        return digest
    }

    /// Writes the new entries, merged with what other processes wrote meanwhile, atomically
    /// (`FileSystem.writeDurably`, mode 0600). Entries whose file changed are dropped.
    /// Best effort: a store that cannot be written only means hashing again next time.
    func save() {
        state.withLock { state in
            guard state.changed, let mine = state.entries else { return }
            var merged = Self.read(path) ?? [:]
            merged.merge(mine) { _, new in new }
            merged = merged.filter { FileIdentity(path: $0.key) == $0.value.identity }
            guard let data = try? JSONEncoder().encode(Contents(version: Self.version, files: merged)) else { return }
            if (try? FileSystem.writeDurably(data, to: path, mode: 0o600)) != nil {
                state.entries = merged
                state.changed = false
            }
        }
    }

    /// The entries, read from the file on first use.
    private static func loaded(_ state: inout State, from path: String) -> [String: Entry] {
        if let entries = state.entries { return entries }
        let read = Self.read(path) ?? [:]
        state.entries = read
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
