import ConstruirSystem
import Glibc
import JobModel
import NIOCore
import NIOPosix

/// A file read or written in chunks, each one short file work (`FileWork`), so streaming a job or an output to
/// or from the hub, on either side, never blocks the cooperative pool.
package final class PooledFile: Sendable {
    package let path: String
    private let fd: Int32

    /// Opens `path` for reading, or for writing (created with mode 0600 if missing).
    package init(path: String, writing: Bool) async throws {
        self.path = path
        let flags = writing ? (O_WRONLY | O_CREAT | O_CLOEXEC) : (O_RDONLY | O_CLOEXEC)
        fd = try await FileWork.run {
            try systemCall("open", path: path) { open(path, flags, 0o600) }
        }
    }

    deinit { close(fd) }

    package func size() async throws -> Int64 {
        let fd = self.fd
        return try await FileWork.run {
            var st = stat()
            try systemCall("fstat") { fstat(fd, &st) }
            return Int64(st.st_size)
        }
    }

    /// Cuts the file to `length` bytes.
    package func truncate(to length: Int64) async throws {
        let fd = self.fd
        _ = try await FileWork.run { try systemCall("ftruncate") { ftruncate(fd, off_t(length)) } }
    }

    /// Writes `buffer` at `offset`; with `hash`, feeds it the bytes on the same pool thread.
    package func write(_ buffer: ByteBuffer, at offset: Int64, hashingInto hash: SHA256Stream? = nil) async throws {
        let (fd, path) = (self.fd, self.path)
        try await FileWork.run {
            try buffer.withUnsafeReadableBytes { bytes in try Self.write(bytes, fd: fd, path: path, at: offset, hashingInto: hash) }
        }
    }

    /// Writes a chunk of a generated API body at `offset`.
    package func write(_ chunk: ArraySlice<UInt8>, at offset: Int64, hashingInto hash: SHA256Stream? = nil) async throws {
        let (fd, path) = (self.fd, self.path)
        try await FileWork.run {
            try chunk.withUnsafeBytes { bytes in try Self.write(bytes, fd: fd, path: path, at: offset, hashingInto: hash) }
        }
    }

    private static func write(_ bytes: UnsafeRawBufferPointer, fd: Int32, path: String, at offset: Int64,
                              hashingInto hash: SHA256Stream?) throws {
        hash?.update(bytes)
        var done = 0
        while done < bytes.count {
            let written = try systemCall("pwrite", path: path) {
                pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            }
            done += written
        }
    }

    package func sync() async throws {
        let fd = self.fd
        _ = try await FileWork.run { try systemCall("fsync") { fsync(fd) } }
    }

    /// The file's bytes from `offset` on (up to `end`, or its end), in chunks of `chunkSize`,
    /// each read when asked for. The sequence keeps the file open until it is dropped.
    package func chunks(from offset: Int64 = 0, to end: Int64 = .max, chunkSize: Int = 256 * 1024) -> Chunks {
        Chunks(file: self, offset: offset, end: end, chunkSize: chunkSize)
    }

    package struct Chunks: AsyncSequence, Sendable {
        package typealias Element = ByteBuffer
        let file: PooledFile
        let offset: Int64
        let end: Int64
        let chunkSize: Int

        package struct AsyncIterator: AsyncIteratorProtocol {
            let file: PooledFile
            var offset: Int64
            let end: Int64
            let chunkSize: Int

            package mutating func next() async throws -> ByteBuffer? {
                guard offset < end else { return nil }
                let (fd, path, size, at) = (file.fd, file.path, Int(Swift.min(Int64(chunkSize), end - offset)), offset)
                let buffer = try await FileWork.run { () -> ByteBuffer in
                    var buffer = ByteBufferAllocator().buffer(capacity: size)
                    _ = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { bytes in
                        try systemCall("pread", path: path) { pread(fd, bytes.baseAddress!, size, off_t(at)) }
                    }
                    return buffer
                }
                guard buffer.readableBytes > 0 else { return nil }
                offset += Int64(buffer.readableBytes)
                return buffer
            }
        }

        package func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(file: file, offset: offset, end: end, chunkSize: chunkSize)
        }
    }
}
