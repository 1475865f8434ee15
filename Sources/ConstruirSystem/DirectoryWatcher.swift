import Glibc
import CConstruir
import Foundation

/// Tells when files arrive in one directory (inotify: IN_CLOSE_WRITE | IN_MOVED_TO), so the
/// runner sleeps until there is work instead of polling.
package final class DirectoryWatcher: Sendable {
    package enum Event: Sendable, Equatable {
        /// A file was written and closed, or renamed into the directory.
        case arrived(String)
        /// The kernel dropped events: rescan the directory.
        case overflow
    }

    package let directory: String
    package let events: AsyncStream<Event>
    private let reader: InotifyReader

    package init(directory: String) throws {
        self.directory = directory
        let fd = try systemCall("inotify_init1") { inotify_init1(Int32(IN_CLOEXEC)) }
        let mask = UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO)
        var pipeFDs: [Int32] = [0, 0]
        do {
            try systemCall("inotify_add_watch", path: directory) { inotify_add_watch(fd, directory, mask) }
            try systemCall("pipe") { pipe(&pipeFDs) }
        } catch {
            close(fd)
            throw error
        }
        for pipeFD in pipeFDs { _ = fcntl(pipeFD, F_SETFD, FD_CLOEXEC) }
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        events = stream
        let reader = InotifyReader(fd: fd, wakeRead: pipeFDs[0], wakeWrite: pipeFDs[1], continuation: continuation)
        self.reader = reader
        let thread = Thread { reader.run() }
        thread.name = "inotify"
        thread.start()
    }

    /// Stops watching; the event stream finishes.
    package func stop() {
        reader.wake()
    }

    deinit {
        reader.wake()
    }
}
