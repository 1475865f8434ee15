import Glibc
import ConstruirSystem
import Foundation
import JobModel

/// Reads files below done/ for the web server without ever leaving it: a request names a job
/// directory and a relative path, every component is checked (no `..`, `.`, empty, or NUL), and
/// each is opened with `openat(..., O_NOFOLLOW)` from done/ downwards, so neither a `..` nor a
/// symlink anywhere on the way (a job's output may hold any) can reach another file.
package struct DoneFiles: Sendable {
    package let doneDirectory: String

    package init(doneDirectory: String) {
        self.doneDirectory = doneDirectory
    }

    /// An open regular file; closed when the last reference goes.
    package final class OpenFile: Sendable {
        package let fd: Int32
        package let size: Int64
        init(fd: Int32, size: Int64) {
            self.fd = fd
            self.size = size
        }
        deinit { close(fd) }

        /// Reads up to `count` bytes at `offset`.
        package func read(at offset: Int64, count: Int) -> [UInt8] {
            var buffer = [UInt8](repeating: 0, count: count)
            let got = buffer.withUnsafeMutableBytes { bytes in
                systemRetrying { pread(fd, bytes.baseAddress, count, off_t(offset)) }
            }
            return got > 0 ? Array(buffer[..<got]) : []
        }
    }

    /// One entry of a job's directory listing.
    package struct Entry: Sendable, Equatable {
        /// Relative to the job's directory, `/`-separated.
        package var path: String
        package var size: Int64
        /// Only regular files are served; symlinks and others are listed but not linked.
        package var isRegularFile: Bool
    }

    /// Opens `done/JOB/COMPONENTS...`; nil when it does not exist, is not a regular file, or the
    /// request is not a plain path inside the job's directory.
    package func open(job: String, path components: [String]) -> OpenFile? {
        guard QueueObserver.isDoneName(job), !components.isEmpty,
              components.allSatisfy(Self.isSafeComponent) else { return nil }
        var fd = Glibc.open(doneDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        let route = [job] + components
        for (index, name) in route.enumerated() {
            let last = index == route.count - 1
            let flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? O_NONBLOCK : O_DIRECTORY)
            let next = openat(fd, name, flags)
            close(fd)
            guard next >= 0 else { return nil }
            fd = next
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return nil
        }
        return OpenFile(fd: fd, size: Int64(st.st_size))
    }

    /// The files of `done/JOB`, depth first, sorted; symlinks are never followed. At most `limit`.
    package func list(job: String, limit: Int = 2000) -> [Entry] {
        guard QueueObserver.isDoneName(job) else { return [] }
        let root = "\(doneDirectory)/\(job)"
        var st = stat()
        guard lstat(root, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return [] }
        var entries: [Entry] = []
        func walk(_ relative: String) {
            let directory = relative.isEmpty ? root : "\(root)/\(relative)"
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
            for name in names {
                guard entries.count < limit else { return }
                let path = relative.isEmpty ? name : "\(relative)/\(name)"
                var st = stat()
                guard lstat("\(root)/\(path)", &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: walk(path)
                case S_IFREG: entries.append(Entry(path: path, size: Int64(st.st_size), isRegularFile: true))
                default: entries.append(Entry(path: path, size: 0, isRegularFile: false))
                }
            }
        }
        walk("")
        return entries
    }

    static func isSafeComponent(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
    }

    /// How a file is served: never as HTML. Logs, text and JSON inline as plain text or JSON;
    /// everything else as a download.
    package static func contentType(for name: String) -> (type: String, download: Bool) {
        let lower = name.lowercased()
        if lower.hasSuffix(".json") { return ("application/json; charset=utf-8", false) }
        if lower.hasSuffix(".log") || lower.hasSuffix(".txt") { return ("text/plain; charset=utf-8", false) }
        return ("application/octet-stream", true)
    }
}

private func systemRetrying(_ body: () -> Int) -> Int {
    while true {
        let result = body()
        if result < 0, errno == EINTR { continue }
        return result
    }
}
