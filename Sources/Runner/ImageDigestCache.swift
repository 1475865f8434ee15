import ConstruirSystem
import Foundation
import JobModel
import Synchronization

/// Verified image digests. An image's files are hashed and checked against its image.json once,
/// and again only when a file's identity changes: its inode, size, mtime or ctime, or image.json.
/// An image that does not match is refused (the error is cached the same way).
///
/// With a `FileDigestStore`, the sha256 of each file also outlives the process: `construir
/// run-once` is a new process every time and would otherwise hash ~75 MB of image before each
/// job. The check against image.json still runs every time; only the hashing is remembered.
package final class ImageDigestCache: Sendable {
    private struct Entry {
        /// The identities of the image's files when it was checked.
        var key: String
        var digest: String?
        var error: String?
    }

    private let cache = Mutex<[String: Entry]>([:])
    private let store: FileDigestStore?

    /// - Parameter persistingTo: where file digests are remembered across processes; nil: not.
    package init(persistingTo path: String? = nil) {
        store = path.map { FileDigestStore(path: $0) }
    }

    /// Blocking (hashes what changed): call it from a thread of its own.
    package func digest(of image: BuildImage) throws -> String {
        var key = ""
        for file in image.verifiedFiles + ["image.json"] {
            guard let identity = FileIdentity(path: "\(image.directory)/\(file)") else { return try verifiedDigest(of: image) }
            key += "\(file):\(identity);"
        }
        let hit = cache.withLock { $0[image.directory] }
        if let hit, hit.key == key {
            if let digest = hit.digest { return digest }
            throw ConstruirError(.invalidArgument, hit.error ?? "build image \(image.index) does not match its image.json")
        }
        do {
            let digest = try verifiedDigest(of: image)
            cache.withLock { $0[image.directory] = Entry(key: key, digest: digest) }
            return digest
        } catch {
            cache.withLock { $0[image.directory] = Entry(key: key, error: "\(error)") }
            throw error
        }
    }

    private func verifiedDigest(of image: BuildImage) throws -> String {
        guard let store else { return try image.verifiedDigest() }
        defer { store.save() }
        return try image.verifiedDigest(sha256: store.sha256(ofFile:))
    }
}
