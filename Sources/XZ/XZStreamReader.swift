import Glibc
import CLZMA
import ConstruirSystem

/// Decodes exactly one xz stream from offset 0 of a file, typically a raw VM disk the guest wrote
/// its output onto, and ignores whatever follows it (zero padding or garbage).
///
/// Why it exists: the disk is written by an untrusted guest, is much larger than the stream and
/// must never be mounted. This reader makes a single pass over the disk that at once
/// - hands out the decompressed bytes through a pull interface (`read(into:)`), which is what
///   libarchive's read callback needs,
/// - learns the exact compressed length of the stream (`compressedLength`),
/// - optionally copies exactly the stream's bytes to a file (the trimmed `output.tar.xz`), and
/// - enforces a hard cap on decompressed bytes and on decoder memory, so an xz bomb fails fast.
///
/// Decoding is single-stream on purpose (`lzma_stream_decoder` without `LZMA_CONCATENATED`):
/// the decoder stops at the first stream's footer, so trailing bytes are never interpreted.
///
/// The optional copy is written to `<copyPath>.partial` and renamed to `copyPath` only by a
/// successful `finish()`. On any error, on `discard()`, or if the reader is dropped before
/// `finish()`, the partial file is removed: a file at `copyPath` is always a complete, verified
/// xz stream.
///
/// Not thread-safe; use it from one thread at a time.
package final class XZStreamReader {
    /// 256 MiB: more than any preset (even -9e, 64 MiB dictionary) needs, far less than a
    /// crafted header could ask for.
    package static let defaultMemoryLimit: UInt64 = 256 << 20
    /// Bytes examined at the start of the disk to tell "never written" from "not xz".
    static let sniffLength = 4096

    /// The file being decoded.
    package let path: String
    /// What the file is, in error messages.
    package let subject: String
    /// Decompressed bytes allowed before `read(into:)` fails with `.limitExceeded`.
    package let maxDecompressedBytes: Int64
    /// Where the trimmed copy of the stream goes once `finish()` succeeds, if anywhere.
    package let copyPath: String?
    /// The exact byte length of the xz stream; `nil` until the end of the stream was decoded.
    package private(set) var compressedLength: Int64?
    /// Decompressed bytes handed out so far.
    package private(set) var decompressedLength: Int64 = 0
    /// True once the whole stream has been decoded (and `read(into:)` returns 0).
    package var isAtEnd: Bool { compressedLength != nil }

    private enum State { case reading, finished, closed }

    private var state = State.reading
    private var failure: ConstruirError?
    private var diskFD: Int32
    private var copyFD: Int32 = -1
    private let partialCopyPath: String?
    private let stream: UnsafeMutablePointer<lzma_stream>
    private let input: UnsafeMutableRawBufferPointer
    private var inputEOF = false
    private let memoryLimit: UInt64

    /// Opens `path` and checks that it starts with an xz stream.
    ///
    /// - Parameters:
    ///   - maxDecompressedBytes: hard cap on decompressed output ("xz bomb" protection).
    ///   - memoryLimit: liblzma decoder memory limit; streams needing more fail with `.xz`.
    ///   - copyPath: if set, the stream's exact bytes are kept there (see the type's notes).
    ///   - bufferSize: how much of the disk is read per system call.
    ///   - subject: what the file is, for error messages (default: "output disk PATH").
    /// - Throws: `.xz` if the disk is empty (zero length or all zeros at the start) or does not
    ///   start with the xz magic; `.system` if it cannot be opened or read.
    package init(path: String, maxDecompressedBytes: Int64, memoryLimit: UInt64 = XZStreamReader.defaultMemoryLimit,
                copyingStreamTo copyPath: String? = nil, bufferSize: Int = 1 << 20, subject: String? = nil) throws(ConstruirError) {
        precondition(maxDecompressedBytes >= 0, "maxDecompressedBytes must not be negative")
        self.path = path
        self.subject = subject ?? "output disk \(path)"
        self.maxDecompressedBytes = maxDecompressedBytes
        self.memoryLimit = memoryLimit
        self.copyPath = copyPath
        self.partialCopyPath = copyPath.map { $0 + ".partial" }
        self.input = .allocate(byteCount: max(bufferSize, XZStreamReader.sniffLength), alignment: 16)
        self.stream = .allocate(capacity: 1)
        self.stream.initialize(to: construir_lzma_stream_init())
        do {
            self.diskFD = try systemCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
        } catch {
            self.diskFD = -1
            throw ConstruirError(.system, "cannot open \(self.subject)", cause: error)
        }
        // From here on deinit runs on a throw and releases everything acquired so far.
        try sniff()
        if let partialCopyPath {
            do {
                copyFD = try systemCall("open", path: partialCopyPath) {
                    open(partialCopyPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o644)
                }
            } catch {
                throw ConstruirError(.system, "cannot create trimmed archive copy", cause: error)
            }
        }
        let ret = lzma_stream_decoder(stream, memoryLimit, 0)
        guard ret == LZMA_OK else {
            throw fail(ConstruirError(.xz, "cannot initialise the xz decoder: \(XZ.describe(ret))"))
        }
    }

    deinit {
        if state == .reading { release(keepCopy: false) }
        stream.deinitialize(count: 1)
        stream.deallocate()
        input.deallocate()
    }

    /// Decompresses into `buffer` and returns how many bytes were produced; 0 means the end of the
    /// stream was reached (then `compressedLength` is set). Once it has thrown, it throws the same
    /// error again.
    ///
    /// - Throws: `.limitExceeded` past `maxDecompressedBytes`; `.xz` for a truncated or corrupt
    ///   stream or one needing too much memory; `.system` for I/O errors.
    package func read(into buffer: UnsafeMutableRawBufferPointer) throws(ConstruirError) -> Int {
        if let failure { throw failure }
        guard state == .reading else {
            throw ConstruirError(.internalError, "XZStreamReader used after finish() or discard()")
        }
        guard compressedLength == nil, let outBase = buffer.baseAddress, buffer.count > 0 else { return 0 }

        stream.pointee.next_out = outBase.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = buffer.count
        while stream.pointee.avail_out == buffer.count {
            if stream.pointee.avail_in == 0 && !inputEOF {
                try refill()
            }
            let inputBefore = stream.pointee.next_in
            let availableBefore = stream.pointee.avail_in
            let ret = lzma_code(stream, inputEOF ? LZMA_FINISH : LZMA_RUN)
            let consumed = availableBefore - stream.pointee.avail_in
            if consumed > 0, copyFD >= 0, let inputBefore {
                try copy(UnsafeRawBufferPointer(start: inputBefore, count: consumed))
            }
            let produced = buffer.count - stream.pointee.avail_out
            switch ret {
            case LZMA_OK:
                if inputEOF && consumed == 0 && produced == 0 { throw fail(truncated()) }
            case LZMA_STREAM_END:
                compressedLength = Int64(stream.pointee.total_in)
                return try account(produced)
            case LZMA_BUF_ERROR where inputEOF:
                throw fail(truncated())
            case LZMA_DATA_ERROR:
                throw fail(ConstruirError(.xz, "xz stream in \(subject) is corrupt (after \(stream.pointee.total_in) compressed bytes)"))
            case LZMA_FORMAT_ERROR:
                throw fail(ConstruirError(.xz, "\(subject) does not start with an xz stream"))
            case LZMA_MEMLIMIT_ERROR:
                let needed = lzma_memusage(stream)
                throw fail(ConstruirError(.xz, "xz stream in \(subject) needs \(needed >> 20) MiB to decode, more than the \(memoryLimit >> 20) MiB limit"))
            case LZMA_OPTIONS_ERROR:
                throw fail(ConstruirError(.xz, "xz stream in \(subject) uses unsupported options"))
            default:
                throw fail(ConstruirError(.xz, "xz decoding of \(subject) failed: \(XZ.describe(ret))"))
            }
        }
        return try account(buffer.count - stream.pointee.avail_out)
    }

    /// Decodes whatever is left of the stream (still under the cap, output discarded), then
    /// closes the disk and publishes the trimmed copy. Call it when the consumer is done, even if
    /// it stopped early (tar readers stop at the end-of-archive marker). Returns the stream's
    /// compressed length. Calling it again returns the same value.
    @discardableResult
    package func finish() throws(ConstruirError) -> Int64 {
        if let failure { throw failure }
        if state == .finished, let compressedLength { return compressedLength }
        guard state == .reading else {
            throw ConstruirError(.internalError, "XZStreamReader.finish() after discard()")
        }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { scratch.deallocate() }
        while try read(into: scratch) > 0 {}
        guard let compressedLength else {
            throw fail(ConstruirError(.internalError, "xz stream ended without a length"))
        }
        if let copyPath, let partialCopyPath {
            do {
                try systemCall("fsync", path: partialCopyPath) { fsync(copyFD) }
                let fd = copyFD
                copyFD = -1
                try systemCall("close", path: partialCopyPath) { close(fd) }
                try systemCall("rename", path: copyPath) { rename(partialCopyPath, copyPath) }
                try FileSystem.fsyncParent(of: copyPath)
            } catch {
                throw fail(ConstruirError(.system, "cannot keep the trimmed archive at \(copyPath)", cause: error))
            }
        }
        release(keepCopy: true)
        state = .finished
        return compressedLength
    }

    /// Gives up: closes the disk and removes the partial copy. Later calls throw.
    package func discard() {
        if state == .reading { release(keepCopy: false) }
    }

    // MARK: - Internals

    /// Reads the first bytes of the disk and rejects an empty disk or one that is not xz, with
    /// messages a person can act on (liblzma would only say "format error").
    private func sniff() throws(ConstruirError) {
        var filled = 0
        while filled < XZStreamReader.sniffLength {
            let n = try readDisk(into: UnsafeMutableRawBufferPointer(rebasing: input[filled...]))
            if n == 0 { break }
            filled += n
        }
        if filled == 0 {
            inputEOF = true
            throw ConstruirError(.xz, "\(subject) is empty (zero length)")
        }
        let head = UnsafeRawBufferPointer(rebasing: input[..<min(filled, XZStreamReader.sniffLength)])
        if head.allSatisfy({ $0 == 0 }) {
            throw ConstruirError(.xz, "\(subject) is empty (all zeros)")
        }
        let magic = XZ.magic
        let compared = min(filled, magic.count)
        guard head.prefix(compared).elementsEqual(magic.prefix(compared)) else {
            throw ConstruirError(.xz, "\(subject) does not start with an xz stream")
        }
        if filled < magic.count { inputEOF = true }
        stream.pointee.next_in = UnsafePointer(input.baseAddress!.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = filled
    }

    private func refill() throws(ConstruirError) {
        let n = try readDisk(into: input)
        stream.pointee.next_in = UnsafePointer(input.baseAddress!.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = n
        if n == 0 { inputEOF = true }
    }

    private func readDisk(into buffer: UnsafeMutableRawBufferPointer) throws(ConstruirError) -> Int {
        do {
            return try systemCall("read", path: path) { Glibc.read(diskFD, buffer.baseAddress, buffer.count) }
        } catch {
            throw fail(ConstruirError(.system, "cannot read \(subject)", cause: error))
        }
    }

    private func copy(_ bytes: UnsafeRawBufferPointer) throws(ConstruirError) {
        do {
            try writeAll(copyFD, bytes, path: partialCopyPath ?? "")
        } catch {
            throw fail(ConstruirError(.system, "cannot write the trimmed archive copy", cause: error))
        }
    }

    private func account(_ produced: Int) throws(ConstruirError) -> Int {
        decompressedLength += Int64(produced)
        if decompressedLength > maxDecompressedBytes {
            throw fail(ConstruirError(.limitExceeded,
                "xz stream in \(subject) decompresses to more than \(maxDecompressedBytes) bytes (decompressed-size limit)"))
        }
        return produced
    }

    private func truncated() -> ConstruirError {
        ConstruirError(.xz, "xz stream in \(subject) is truncated (the disk ends after \(stream.pointee.total_in) bytes, before the end of the stream)")
    }

    /// Records `error` as terminal, releases resources and returns it for throwing.
    private func fail(_ error: ConstruirError) -> ConstruirError {
        failure = error
        if state == .reading { release(keepCopy: false) }
        return error
    }

    private func release(keepCopy: Bool) {
        lzma_end(stream)
        if diskFD >= 0 { close(diskFD); diskFD = -1 }
        if copyFD >= 0 { close(copyFD); copyFD = -1 }
        if !keepCopy, let partialCopyPath { unlink(partialCopyPath) }
        state = .closed
    }
}
