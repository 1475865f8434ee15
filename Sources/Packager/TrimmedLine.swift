extension [UInt8] {
    /// The bytes as text, without one trailing newline.
    var trimmedLine: String {
        var bytes = self[...]
        while let last = bytes.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { bytes = bytes.dropLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}
