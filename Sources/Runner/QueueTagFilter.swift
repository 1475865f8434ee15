import ConstruirSystem
import Archive
import JobModel
import Logging
import Synchronization

/// Which queued jobs this runner may take on a queue runners share: a job whose `tags:` this
/// runner lacks is left for another runner. A job's tags are read from its manifest once per
/// file (by identity, so a replaced file is read again), decoding no more of the archive than
/// it takes to reach the manifest (`JobManifestPeek`); a job whose manifest is not found that
/// way is taken, and the runner's inspection after the claim decides. Blocking: decodes jobs.
package final class QueueTagFilter: Sendable {
    package let tags: RunnerTags
    private let known = Mutex([String: (identity: FileIdentity, missing: [String])]())
    private let logger: Logger

    package init(tags: RunnerTags, logger: Logger) {
        self.tags = tags
        self.logger = logger
    }

    /// Whether this runner may take the queued job at `path`.
    package func accepts(_ path: String, name: JobName) -> Bool {
        guard let identity = FileIdentity(path: path) else { return true }
        if let cached = known.withLock({ $0[name.fileName] }), cached.identity == identity { return cached.missing.isEmpty }
        let missing: [String]
        switch JobManifestPeek.read(path) {
        case .manifest(let manifest): missing = tags.missing(for: manifest)
        case .none, .unknown: missing = []
        }
        let first = known.withLock { known in
            defer { known[name.fileName] = (identity, missing) }
            return known[name.fileName]?.identity != identity
        }
        if first, !missing.isEmpty {
            logger.info("left a job for a runner with the tags it asks for", metadata: ["job": "\(name.fileName)", "missing": "\(missing.joined(separator: ","))"])
        }
        return missing.isEmpty
    }

    /// Forgets files no longer queued.
    package func keep(only names: [JobName]) {
        let present = Set(names.map(\.fileName))
        known.withLock { $0 = $0.filter { present.contains($0.key) } }
    }
}
