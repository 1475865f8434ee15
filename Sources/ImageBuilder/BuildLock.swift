import Glibc
import ConstruirSystem

/// An exclusive lock on a file, so that two builds of one image do not share a staging directory.
final class BuildLock {
    private var descriptor: Int32

    init(path: String, index: Int) throws {
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ConstruirError(.system, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            descriptor = -1
            throw ConstruirError(.invalidArgument, "another build of image \(index) is running (\(path) is locked)")
        }
    }

    func release() {
        if descriptor >= 0 { close(descriptor); descriptor = -1 }
    }

    deinit { release() }
}
