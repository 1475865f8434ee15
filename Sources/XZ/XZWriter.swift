import Glibc
import CLZMA
import ConstruirSystem

/// Streams data into an xz file (one stream, CRC64 check), optionally with liblzma's
/// multithreaded encoder.
///
/// Why it exists: packaging job inputs means compressing large trees quickly; the multithreaded
/// encoder splits the input into independent blocks that any xz decoder (including
/// `XZStreamReader`) reads as one stream.
///
/// The file at `path` is created or truncated by `init`. If the writer is dropped (or fails)
/// before `finish()` succeeds, the incomplete file is removed. Not thread-safe.
package final class XZWriter {
    /// How to compress.
    package struct Options: Sendable, Equatable {
        /// xz preset level 0...9 (`xz -0` ... `xz -9`).
        package var preset: Int
        /// `xz -e`: slower, slightly smaller.
        package var extreme: Bool
        /// Encoder threads; 0 means one per CPU. Without `blockSize`, 1 uses the
        /// single-threaded encoder (one block, the smallest output).
        package var threads: Int
        /// Uncompressed bytes per xz block, or nil for liblzma's choice. When set, the
        /// multithreaded encoder is used whatever `threads` is, so the output depends only on
        /// the input, `preset`, `extreme` and `blockSize`: byte-identical for any thread count.
        /// (liblzma's encoder splits the input by block size, never by thread count.)
        package var blockSize: Int?

        package init(preset: Int = 6, extreme: Bool = false, threads: Int = 1, blockSize: Int? = nil) {
            self.preset = preset
            self.extreme = extreme
            self.threads = threads
            self.blockSize = blockSize
        }
    }

    package let path: String
    /// Uncompressed bytes written so far.
    package private(set) var uncompressedLength: Int64 = 0
    /// Compressed bytes written to the file so far (the final size once `finish()` returned).
    package private(set) var compressedLength: Int64 = 0

    private var fd: Int32 = -1
    private let stream: UnsafeMutablePointer<lzma_stream>
    private let output: UnsafeMutableRawBufferPointer
    private var finished = false
    private var failure: ConstruirError?

    package init(path: String, options: Options = Options()) throws(ConstruirError) {
        self.path = path
        self.stream = .allocate(capacity: 1)
        self.stream.initialize(to: construir_lzma_stream_init())
        self.output = .allocate(byteCount: 1 << 20, alignment: 16)
        let preset = try XZ.presetFlags(options.preset, extreme: options.extreme)
        guard options.threads >= 0 else {
            throw ConstruirError(.invalidArgument, "xz threads must not be negative, got \(options.threads)")
        }
        if let blockSize = options.blockSize, blockSize < 1 {
            throw ConstruirError(.invalidArgument, "xz block size must be positive, got \(blockSize)")
        }
        let ret: lzma_ret
        if options.threads == 1 && options.blockSize == nil {
            ret = lzma_easy_encoder(stream, preset, LZMA_CHECK_CRC64)
        } else {
            var mt = lzma_mt()
            mt.threads = options.threads == 0 ? max(1, lzma_cputhreads()) : UInt32(clamping: options.threads)
            mt.preset = preset
            mt.check = LZMA_CHECK_CRC64
            mt.block_size = UInt64(options.blockSize ?? 0)
            ret = lzma_stream_encoder_mt(stream, &mt)
        }
        guard ret == LZMA_OK else {
            throw ConstruirError(.xz, "cannot initialise the xz encoder: \(XZ.describe(ret))")
        }
        do {
            fd = try systemCall("open", path: path) { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        } catch {
            throw ConstruirError(.system, "cannot create \(path)", cause: error)
        }
    }

    deinit {
        lzma_end(stream)
        if fd >= 0 {
            close(fd)
            if !finished { unlink(path) }
        }
        stream.deinitialize(count: 1)
        stream.deallocate()
        output.deallocate()
    }

    /// Compresses `bytes` and writes whatever output is ready.
    package func write(_ bytes: UnsafeRawBufferPointer) throws(ConstruirError) {
        try checkUsable()
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        stream.pointee.next_in = base.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_in = bytes.count
        while stream.pointee.avail_in > 0 {
            try code(LZMA_RUN)
        }
        uncompressedLength += Int64(bytes.count)
    }

    /// Compresses `bytes` and writes whatever output is ready.
    package func write(_ bytes: [UInt8]) throws(ConstruirError) {
        var thrown: ConstruirError?
        bytes.withUnsafeBytes { buffer in
            do throws(ConstruirError) { try write(buffer) } catch { thrown = error }
        }
        if let thrown { throw thrown }
    }

    /// Flushes the encoder, completes the stream and syncs the file. Returns the file's size.
    @discardableResult
    package func finish() throws(ConstruirError) -> Int64 {
        if finished { return compressedLength }
        try checkUsable()
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        while try !code(LZMA_FINISH) {}
        do {
            try systemCall("fsync", path: path) { fsync(fd) }
        } catch {
            throw fail(ConstruirError(.system, "cannot sync \(path)", cause: error))
        }
        finished = true
        close(fd)
        fd = -1
        return compressedLength
    }

    /// One `lzma_code` call plus writing its output; returns true at the end of the stream.
    @discardableResult
    private func code(_ action: lzma_action) throws(ConstruirError) -> Bool {
        stream.pointee.next_out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        stream.pointee.avail_out = output.count
        let ret = lzma_code(stream, action)
        let produced = output.count - stream.pointee.avail_out
        if produced > 0 {
            do {
                try writeAll(fd, UnsafeRawBufferPointer(rebasing: output[..<produced]), path: path)
            } catch {
                throw fail(ConstruirError(.system, "cannot write \(path)", cause: error))
            }
            compressedLength += Int64(produced)
        }
        switch ret {
        case LZMA_OK: return false
        case LZMA_STREAM_END: return true
        default: throw fail(ConstruirError(.xz, "xz compression of \(path) failed: \(XZ.describe(ret))"))
        }
    }

    private func checkUsable() throws(ConstruirError) {
        if let failure { throw failure }
        if finished { throw ConstruirError(.internalError, "XZWriter used after finish()") }
    }

    private func fail(_ error: ConstruirError) -> ConstruirError {
        failure = error
        return error
    }
}
