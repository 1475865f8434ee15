#if canImport(Glibc)
import Glibc
#endif
import CConstruir
import Foundation

/// Tells when files arrive in one directory (inotify: IN_CLOSE_WRITE | IN_MOVED_TO), so the
/// runner sleeps until there is work instead of polling.
public final class DirectoryWatcher: @unchecked Sendable {
    public enum Event: Sendable, Equatable {
        /// A file was written and closed, or renamed into the directory.
        case arrived(String)
        /// The kernel dropped events: rescan the directory.
        case overflow
    }

    public let directory: String
    public let events: AsyncStream<Event>
    private let reader: InotifyReader

    public init(directory: String) throws {
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
    public func stop() {
        reader.wake()
    }

    deinit {
        reader.wake()
    }
}

/// Owns the inotify descriptor and the wake-up pipe; they are closed when both the watcher and
/// the reading thread are done with it, so a late `stop()` never writes to a closed pipe.
private final class InotifyReader: @unchecked Sendable {
    let fd: Int32
    let wakeRead: Int32
    let wakeWrite: Int32
    let continuation: AsyncStream<DirectoryWatcher.Event>.Continuation
    private let lock = NSLock()
    private var woken = false

    init(fd: Int32, wakeRead: Int32, wakeWrite: Int32, continuation: AsyncStream<DirectoryWatcher.Event>.Continuation) {
        self.fd = fd
        self.wakeRead = wakeRead
        self.wakeWrite = wakeWrite
        self.continuation = continuation
    }

    deinit {
        close(fd)
        close(wakeRead)
        close(wakeWrite)
    }

    func wake() {
        lock.lock()
        defer { lock.unlock() }
        guard !woken else { return }
        woken = true
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    func run() {
        defer { continuation.finish() }
        let bufferSize = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: bufferSize, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            guard (try? systemCall("poll", { poll(&fds, 2, -1) })) != nil else { return }
            if fds[1].revents != 0 { return }
            guard fds[0].revents != 0 else { continue }
            guard let count = try? systemCall("read", { read(fd, buffer, bufferSize) }), count > 0 else { return }
            var offset = 0
            while offset + MemoryLayout<inotify_event>.size <= count {
                let event = (buffer + offset).loadUnaligned(as: inotify_event.self)
                let nameStart = buffer + offset + MemoryLayout<inotify_event>.size
                if event.mask & UInt32(IN_Q_OVERFLOW) != 0 {
                    continuation.yield(.overflow)
                } else if event.len > 0 {
                    let name = String(cString: nameStart.assumingMemoryBound(to: CChar.self))
                    continuation.yield(.arrived(name))
                }
                offset += MemoryLayout<inotify_event>.size + Int(event.len)
            }
        }
    }
}
