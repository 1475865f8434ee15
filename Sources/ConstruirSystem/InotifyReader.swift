import CConstruir
import Glibc
import Synchronization

/// Owns the inotify descriptor and the wake-up pipe; they are closed when both the watcher and
/// the reading thread are done with it, so a late `stop()` never writes to a closed pipe.
final class InotifyReader: Sendable {
    let fd: Int32
    let wakeRead: Int32
    let wakeWrite: Int32
    let continuation: AsyncStream<DirectoryWatcher.Event>.Continuation
    private let woken = Mutex(false)

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
        woken.withLock { woken in
            guard !woken else { return }
            woken = true
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
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
