import Glibc
import ConstruirSystem
import Foundation
import JobModel

/// Streams a running job's `console.log` as QEMU appends to it, like `tail -f`, and stops once
/// the job's running directory is gone (published to done/ or returned to the queue). The file
/// stays open across that rename, so nothing written before the end is lost.
///
/// It polls (every `interval`): inotify on the running directory would not report QEMU's
/// appends without IN_MODIFY, which `DirectoryWatcher` does not watch, and a console log grows
/// at human speed.
package enum ConsoleFollower {
    /// Follows `DIRECTORY/console.log` from `offset`; `write` gets each new chunk. Returns the
    /// number of bytes written. Ends early when the task is cancelled.
    @discardableResult
    package static func follow(directory: String, from offset: Int64 = 0, interval: Duration = .milliseconds(200),
                              write: (ArraySlice<UInt8>) -> Void) async -> Int64 {
        let path = "\(directory)/\(JobFiles.consoleLog)"
        var fd: Int32 = -1
        defer { if fd >= 0 { close(fd) } }
        var position = offset
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        func drain() {
            guard fd >= 0 else { return }
            while true {
                let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(position)) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return }
                write(buffer[..<count])
                position += Int64(count)
            }
        }
        while !Task.isCancelled {
            if fd < 0 { fd = open(path, O_RDONLY | O_CLOEXEC) }
            // Look before draining: whatever was written before the directory went is read below.
            let running = FileSystem.isDirectory(directory)
            drain()
            if !running { break }
            try? await Task.sleep(for: interval)
        }
        return position - offset
    }
}
