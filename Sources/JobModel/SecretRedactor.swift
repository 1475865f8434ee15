/// Replaces each secret's value by `[secret NAME]` in a stream of bytes that arrives in pieces,
/// as a console log does: a value split across two pieces is still found, because a tail that
/// could be the start of a value is held back until the next piece (or `finish`) decides it.
///
/// At most the longest value less one byte is held back. Where two values could match at one
/// place, the longer one wins. Pure: the runner feeds it; its tests feed it any split.
package struct SecretRedactor: Sendable {
    private struct Secret: Sendable {
        let value: [UInt8]
        let replacement: [UInt8]
    }

    /// Longest first, so that a value that contains another is replaced whole.
    private let secrets: [Secret]
    /// The bytes a value can start with: most bytes are none, and are passed on at once.
    private let firstBytes: Set<UInt8>
    private var held: [UInt8] = []
    /// How many values were replaced so far.
    package private(set) var replacements = 0

    /// - Parameter secrets: (name, value) pairs; empty values are ignored.
    package init(secrets: [(name: String, value: String)]) {
        self.secrets = secrets.filter { !$0.value.isEmpty }
            .map { Secret(value: Array($0.value.utf8), replacement: Array("[secret \($0.name)]".utf8)) }
            .sorted { $0.value.count > $1.value.count }
        firstBytes = Set(self.secrets.map { $0.value[0] })
    }

    /// Whether there is anything to replace.
    package var isEmpty: Bool { secrets.isEmpty }

    /// The redacted bytes that `piece`, after what came before, settles.
    package mutating func feed<Bytes: Collection<UInt8>>(_ piece: Bytes) -> [UInt8] {
        guard !secrets.isEmpty else { return Array(piece) }
        held.append(contentsOf: piece)
        let buffer = held
        var output: [UInt8] = []
        output.reserveCapacity(buffer.count)
        var index = 0
        scan: while index < buffer.count {
            let byte = buffer[index]
            if firstBytes.contains(byte) {
                for secret in secrets {
                    switch Self.match(secret.value, in: buffer, at: index) {
                    case .whole:
                        output += secret.replacement
                        replacements += 1
                        index += secret.value.count
                        continue scan
                    case .prefix:
                        // Undecided until more bytes come: keep everything from here.
                        held = Array(buffer[index...])
                        return output
                    case .none:
                        continue
                    }
                }
            }
            output.append(byte)
            index += 1
        }
        held = []
        return output
    }

    /// The held-back tail, once no more bytes will come: no value can complete it now.
    package mutating func finish() -> [UInt8] {
        var tail = held
        held = []
        guard !tail.isEmpty else { return [] }
        // The tail is a proper prefix of some value at its start, but may hold a whole shorter
        // value further on: pass it on byte by byte, as if it had no continuation.
        var output: [UInt8] = []
        while !tail.isEmpty {
            if let secret = secrets.first(where: { Self.match($0.value, in: tail, at: 0) == .whole }) {
                output += secret.replacement
                replacements += 1
                tail.removeFirst(secret.value.count)
            } else {
                output.append(tail.removeFirst())
            }
        }
        return output
    }

    /// `bytes` redacted whole.
    package static func redact(_ bytes: [UInt8], secrets: [(name: String, value: String)]) -> [UInt8] {
        var redactor = SecretRedactor(secrets: secrets)
        return redactor.feed(bytes) + redactor.finish()
    }

    private enum Match { case whole, prefix, none }

    /// Whether `value` starts at `index` of `buffer`, or the buffer ends inside what may be it.
    private static func match(_ value: [UInt8], in buffer: [UInt8], at index: Int) -> Match {
        let available = buffer.count - index
        let count = min(available, value.count)
        for offset in 0..<count where buffer[index + offset] != value[offset] { return .none }
        return count == value.count ? .whole : .prefix
    }
}
