import Glibc

/// An exclusive advisory lock on a file, held for as long as the value lives.
///
/// Why a lock and not a pid file: the kernel (or the NFS server's lock manager) releases it when
/// the holder dies, however it dies, so "can I take this lock?" is a liveness test that never
/// mistakes a reused pid for a live runner.
package final class FileLock: Sendable {
    package let path: String
    private let fd: Int32

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    /// Takes the lock without waiting; nil when another process (or another open of the file in
    /// this process) holds it. The file is created if missing; a symlink is refused (ELOOP), so a
    /// lock planted as a link cannot make construir create or lock a file elsewhere. `mode` is
    /// that of a new lock file (runners sharing a queue open each other's locks).
    package static func tryLock(_ path: String, mode: mode_t = 0o644) throws(SystemError) -> FileLock? {
        let fd = try systemCall("open", path: path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode) }
        do {
            try systemCall("flock", path: path) { flock(fd, LOCK_EX | LOCK_NB) }
        } catch {
            close(fd)
            if error.errno == EWOULDBLOCK { return nil }
            throw error
        }
        return FileLock(path: path, fd: fd)
    }

    /// Whether some process holds the lock on `path` now (false when the file does not exist).
    package static func isHeld(_ path: String) -> Bool {
        guard FileSystem.exists(path) else { return false }
        guard let lock = try? tryLock(path) else { return true }
        _ = lock
        return false
    }
}
