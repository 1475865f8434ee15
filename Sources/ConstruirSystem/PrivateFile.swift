import Foundation
import Glibc

/// A file only its owner may read: a tokens file, a webhook secret, a runner's secrets.
///
/// Read only when it is a regular file (not through a symlink) of this user that nobody else can
/// read or write: a file someone else could read leaks what it holds, one they could write
/// lets them choose it.
package enum PrivateFile {
    /// The file's bytes. `what` names the file in errors ("the secrets file").
    package static func read(_ path: String, what: String, maxBytes: Int) throws(ConstruirError) -> [UInt8] {
        let fd: Int32
        do {
            fd = try systemCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        } catch {
            if error.errno == ENOENT { throw ConstruirError(.notFound, "\(what) \(path) does not exist") }
            throw ConstruirError(.system, "cannot open \(what) \(path): \(error)")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw ConstruirError(.invalidArgument, "\(what) \(path) is not a regular file")
        }
        guard st.st_uid == geteuid() else {
            throw ConstruirError(.untrustedPath, "\(what) \(path) belongs to uid \(st.st_uid), not to this user: refused")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw ConstruirError(.untrustedPath, "\(what) \(path) has mode \(String(st.st_mode & 0o777, radix: 8)); it must be private to its owner (chmod 600)")
        }
        guard st.st_size <= maxBytes else {
            throw ConstruirError(.limitExceeded, "\(what) \(path) is larger than \(maxBytes) bytes")
        }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = try? systemCall("read", path: path) { bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, $0.count - filled) } }
            guard let n, n > 0 else { throw ConstruirError(.system, "cannot read \(what) \(path)") }
            filled += n
        }
        return bytes
    }

    /// The file's first line, trimmed: a token or a key. `holding` names what it should hold.
    package static func firstLine(_ path: String, what: String, holding: String) throws(ConstruirError) -> String {
        let bytes = try read(path, what: what, maxBytes: 64 << 10)
        guard let text = String(validating: bytes, as: UTF8.self),
              let line = text.split(whereSeparator: \.isNewline).first.map({ $0.trimmingCharacters(in: .whitespaces) }),
              !line.isEmpty else {
            throw ConstruirError(.invalidArgument, "\(what) \(path) holds no \(holding)")
        }
        return line
    }
}
