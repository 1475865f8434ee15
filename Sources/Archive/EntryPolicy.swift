import ConstruirSystem

/// The rules every archive entry must pass before anything is written.
///
/// Why in Swift and not only libarchive's SECURE flags: the flags are defence in depth, but they
/// neither know our limits nor check symlink *targets*, and a clear `.unsafeEntry` naming the
/// entry is what the job's owner needs to see.
enum EntryPolicy {
    static let slash = UInt8(ascii: "/")
    static let dot = UInt8(ascii: ".")

    /// Validates an entry name or a hardlink target and returns it normalised (`./a//b/` → `a/b`).
    /// The result is empty for the root itself (`.`, `./`).
    static func relativePath(_ raw: [UInt8], role: String, entry: [UInt8], limits: ExtractionLimits) throws(ConstruirError) -> RelativePath {
        func unsafe(_ reason: String) -> ConstruirError {
            ConstruirError(.unsafeEntry, "archive entry \(quoted(entry)): \(role) \(reason)")
        }
        if raw.isEmpty { throw unsafe("is empty") }
        try checkCharacters(raw, unsafe: unsafe)
        if raw.first == slash { throw unsafe("is an absolute path") }
        var components: [[UInt8]] = []
        for component in raw.split(separator: slash, omittingEmptySubsequences: true) {
            if component.elementsEqual([dot]) { continue }
            if component.elementsEqual([dot, dot]) { throw unsafe("contains a '..' component") }
            components.append(Array(component))
        }
        let path = RelativePath(components: components)
        try checkLimits(components: components, length: path.bytes.count, role: role, entry: entry, limits: limits)
        return path
    }

    /// Validates a symlink target: relative, and it must stay inside the destination when
    /// resolved from the link's directory.
    ///
    /// `..` is only accepted as leading components (`../../lib/x`), never after a normal name
    /// (`a/../b`). Lexically `d/../x` looks harmless, but if `d` is itself a symlink the kernel
    /// resolves `..` relative to *its* target, which can climb out. With `..` only at the front,
    /// every `..` pops a real directory of the link's own path (libarchive's SECURE_SYMLINKS
    /// guarantees no entry is written through a symlink), so the target stays inside.
    static func checkSymlinkTarget(_ target: [UInt8], link: RelativePath, entry: [UInt8], limits: ExtractionLimits) throws(ConstruirError) {
        func unsafe(_ reason: String) -> ConstruirError {
            ConstruirError(.unsafeEntry, "archive entry \(quoted(entry)): symlink target \(quoted(target)) \(reason)")
        }
        if target.isEmpty { throw unsafe("is empty") }
        try checkCharacters(target, unsafe: unsafe)
        if target.first == slash { throw unsafe("is an absolute path") }
        var ups = 0
        var sawName = false
        var components: [[UInt8]] = []
        for component in target.split(separator: slash, omittingEmptySubsequences: true) {
            if component.elementsEqual([dot]) { continue }
            if component.elementsEqual([dot, dot]) {
                if sawName { throw unsafe("has a '..' after a directory name") }
                ups += 1
            } else {
                sawName = true
                components.append(Array(component))
            }
        }
        // The link lives in the directory made of all but its last component.
        if ups > link.components.count - 1 { throw unsafe("points outside the destination") }
        if target.count > limits.maxPathLength {
            throw ConstruirError(.limitExceeded, "archive entry \(quoted(entry)): symlink target is longer than the path length limit (\(limits.maxPathLength) bytes)")
        }
        if components.contains(where: { $0.count > limits.maxComponentLength }) {
            throw ConstruirError(.limitExceeded, "archive entry \(quoted(entry)): symlink target has a component longer than the component length limit (\(limits.maxComponentLength) bytes)")
        }
    }

    /// Rejects control characters, C0 and C1 (they break logs and terminals: U+009B is an 8-bit
    /// escape sequence introducer), line and paragraph separators, and the bidirectional
    /// formatting characters that make a listing show a name other than the real one
    /// ("invoice\u{202E}hs.pdf" displays as "invoicefdp.sh"). None is legitimate in a build
    /// output. Bytes that are not UTF-8 are rejected too: names must survive becoming strings.
    private static func checkCharacters(_ bytes: [UInt8], unsafe: (String) -> ConstruirError) throws(ConstruirError) {
        if bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) { throw unsafe("contains a control character") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw unsafe("is not valid UTF-8") }
        if text.unicodeScalars.contains(where: isC1Control) { throw unsafe("contains a control character") }
        if text.unicodeScalars.contains(where: isLayoutControl) {
            throw unsafe("contains a bidirectional-text or line-separator character")
        }
    }

    static func isC1Control(_ scalar: Unicode.Scalar) -> Bool { (0x80...0x9F).contains(scalar.value) }

    /// Bidi embeddings, overrides, isolates and marks, and the Unicode line/paragraph separators.
    static func isLayoutControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x061C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }

    private static func checkLimits(components: [[UInt8]], length: Int, role: String, entry: [UInt8], limits: ExtractionLimits) throws(ConstruirError) {
        if length > limits.maxPathLength {
            throw ConstruirError(.limitExceeded, "archive entry \(quoted(entry)): \(role) is longer than the path length limit (\(limits.maxPathLength) bytes)")
        }
        if components.count > limits.maxPathDepth {
            throw ConstruirError(.limitExceeded, "archive entry \(quoted(entry)): \(role) is deeper than the path depth limit (\(limits.maxPathDepth) components)")
        }
        if components.contains(where: { $0.count > limits.maxComponentLength }) {
            throw ConstruirError(.limitExceeded, "archive entry \(quoted(entry)): \(role) has a component longer than the component length limit (\(limits.maxComponentLength) bytes)")
        }
    }

    /// A name made safe to print: quoted, with control and non-UTF-8 bytes escaped, and capped.
    static func quoted(_ bytes: [UInt8]) -> String {
        var result = "'"
        let shown = bytes.prefix(300)
        if let text = String(validating: shown, as: UTF8.self) {
            for scalar in text.unicodeScalars {
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    result += "\\x" + hex(UInt8(scalar.value))
                } else if isC1Control(scalar) || isLayoutControl(scalar) {
                    result += "\\u{" + String(scalar.value, radix: 16) + "}"
                } else if scalar == "'" || scalar == "\\" {
                    result += "\\" + String(scalar)
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        } else {
            for byte in shown {
                if byte >= 0x20 && byte < 0x7F && byte != UInt8(ascii: "'") && byte != UInt8(ascii: "\\") {
                    result.unicodeScalars.append(Unicode.Scalar(byte))
                } else {
                    result += "\\x" + hex(byte)
                }
            }
        }
        if bytes.count > shown.count { result += "..." }
        return result + "'"
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
