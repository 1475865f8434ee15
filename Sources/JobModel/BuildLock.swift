import Glibc
import ConstruirSystem
import Synchronization

/// An exclusive lock on image N, taken by `image build N` and `image pull N`: two builds of one
/// image would share a staging directory, and a pull and a build would each replace what the
/// other installs.
package final class BuildLock: Sendable {
    private let descriptor: Mutex<Int32>

    /// `IMAGES/.cache/build-N.lock`: the build keeps its downloads and staging in `.cache` too.
    package static func path(root: String, index: Int) -> String { "\(root)/.cache/build-\(index).lock" }

    /// Takes image `index`'s lock in `root` (creating `root/.cache` if missing), waiting up to
    /// `patience` for it.
    ///
    /// Why wait at all: a process that also starts QEMU through libvirt forks, and a forked
    /// child holds a copy of every descriptor, this lock's included, until it closes them
    /// before its exec. A lock released in that moment is still held by the child for a few
    /// milliseconds. A real build holds the lock for minutes, so the wait refuses it all the
    /// same. Blocking, for up to `patience`: never on the cooperative pool (a pull takes it on
    /// a thread of its own, `image build` on the synchronous command's main thread).
    package convenience init(root: String, index: Int, patience: Duration = .seconds(2)) throws {
        try FileSystem.makeDirectory("\(root)/.cache")
        try self.init(path: Self.path(root: root, index: index), index: index, patience: patience)
    }

    package init(path: String, index: Int, patience: Duration = .seconds(2)) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ConstruirError(.system, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        let deadline = ContinuousClock.now + patience
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, ContinuousClock.now < deadline else {
                close(fd)
                throw ConstruirError(.invalidArgument, "another build or pull of image \(index) is running (\(path) is locked)")
            }
            usleep(50_000)
        }
        descriptor = Mutex(fd)
    }

    package func release() {
        descriptor.withLock { fd in
            if fd >= 0 { close(fd); fd = -1 }
        }
    }

    deinit { release() }
}
