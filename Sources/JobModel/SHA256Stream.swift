import Crypto
import Foundation
import Synchronization

/// A sha256 fed chunk by chunk as a download arrives, from whichever pool thread writes the
/// chunk, so a file is hashed while it streams instead of read back afterwards.
package final class SHA256Stream: Sendable {
    private let hasher = Mutex(SHA256())

    package init() {}

    package func update(_ bytes: UnsafeRawBufferPointer) {
        // A copy: the hasher's state must not share a region with the caller's buffer.
        let chunk = Data(bytes)
        hasher.withLock { $0.update(data: chunk) }
    }

    /// The lowercase hex digest of everything fed so far.
    package func hex() -> String {
        hasher.withLock { Hex.string($0.finalize()) }
    }
}
