import Crypto
import Foundation

/// Lowercase hex: how construir writes every digest (image.json, the recipe hash, tokens) and
/// random secret.
package enum Hex {
    package static func string<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// The sha256 of `text`'s UTF-8 bytes.
    package static func sha256(_ text: String) -> String {
        string(SHA256.hash(data: Data(text.utf8)))
    }
}
