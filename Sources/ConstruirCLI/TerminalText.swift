import Foundation

/// Guest console output is written by an untrusted job: on a terminal, its control characters
/// (escape sequences could retitle, recolour or rewrite the user's terminal) become '?'.
enum TerminalText {
    static func write(_ bytes: ArraySlice<UInt8>, toTerminal: Bool) {
        let data = toTerminal ? Data(sanitize(bytes)) : Data(bytes)
        FileHandle.standardOutput.write(data)
    }

    static func sanitize(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var previous: UInt8 = 0
        for byte in bytes {
            switch byte {
            case 0x0A, 0x09: out.append(byte)
            case 0x0D: break  // the serial console ends lines with \r\n
            case 0x00..<0x20, 0x7F: out.append(UInt8(ascii: "?"))
            case 0x80...0x9F where previous == 0xC2:
                out[out.count - 1] = UInt8(ascii: "?")  // a C1 control character, U+0080...U+009F
                previous = 0
                continue
            default: out.append(byte)
            }
            previous = byte
        }
        return out
    }
}
