import Glibc

/// What identifies a file's content without reading it: device, inode, size, mtime and ctime
/// (nanoseconds). Any write changes the ctime, which no user can set back.
package struct FileIdentity: Codable, Sendable, Equatable, CustomStringConvertible {
    package var device: UInt64
    package var inode: UInt64
    package var size: Int64
    package var mtime: Int64
    package var ctime: Int64

    package init?(path: String) {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        self.init(st)
    }

    package init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        ctime = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
    }

    package var description: String { "\(device):\(inode):\(size):\(mtime):\(ctime)" }
}
