import Glibc
import CLZMA
import ConstruirSystem

/// Small, whole-buffer xz helpers. The streaming types (`XZStreamReader`, `XZWriter`) are what
/// production code uses; these exist for small payloads and tests, where a buffer is simpler.
package enum XZ {
    /// The six bytes every xz stream starts with.
    package static let magic: [UInt8] = [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]

    /// Compresses `data` into one complete xz stream (CRC64 check) at `preset` 0...9.
    package static func compress(_ data: [UInt8], preset: Int = 6, extreme: Bool = false) throws(ConstruirError) -> [UInt8] {
        let presetValue = try presetFlags(preset, extreme: extreme)
        var output = [UInt8](repeating: 0, count: lzma_stream_buffer_bound(data.count))
        var written = 0
        let outputCount = output.count
        let ret = data.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { out in
                lzma_easy_buffer_encode(presetValue, LZMA_CHECK_CRC64, nil,
                                        input.baseAddress, input.count,
                                        out.baseAddress, &written, outputCount)
            }
        }
        guard ret == LZMA_OK else {
            throw ConstruirError(.xz, "xz compression failed: \(describe(ret))")
        }
        output.removeSubrange(written...)
        return output
    }

    /// Validates a 0...9 preset and turns it into liblzma's preset word.
    static func presetFlags(_ preset: Int, extreme: Bool) throws(ConstruirError) -> UInt32 {
        guard (0...9).contains(preset) else {
            throw ConstruirError(.invalidArgument, "xz preset must be 0...9, got \(preset)")
        }
        return UInt32(preset) | (extreme ? construir_lzma_preset_extreme() : 0)
    }

    /// A short, human explanation of a liblzma return code.
    static func describe(_ ret: lzma_ret) -> String {
        switch ret {
        case LZMA_OK: return "ok"
        case LZMA_STREAM_END: return "end of stream"
        case LZMA_NO_CHECK: return "stream has no integrity check"
        case LZMA_UNSUPPORTED_CHECK: return "unsupported integrity check"
        case LZMA_GET_CHECK: return "integrity check type available"
        case LZMA_MEM_ERROR: return "out of memory"
        case LZMA_MEMLIMIT_ERROR: return "memory usage limit reached"
        case LZMA_FORMAT_ERROR: return "not in the xz format"
        case LZMA_OPTIONS_ERROR: return "unsupported or invalid options"
        case LZMA_DATA_ERROR: return "compressed data is corrupt"
        case LZMA_BUF_ERROR: return "no progress possible (truncated input?)"
        case LZMA_PROG_ERROR: return "programming error"
        default: return "liblzma error \(ret.rawValue)"
        }
    }
}

/// Writes all of `buffer` to `fd`, retrying on short writes and EINTR.
func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws(SystemError) {
    guard var base = buffer.baseAddress else { return }
    var remaining = buffer.count
    while remaining > 0 {
        let n = try systemCall("write", path: path) { write(fd, base, remaining) }
        base += n
        remaining -= n
    }
}
