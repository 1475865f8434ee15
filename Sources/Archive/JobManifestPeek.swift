import CArchive
import ConstruirSystem
import JobModel
import XZ

/// A job's manifest, read from the start of its archive without the whole inspection: for a
/// runner deciding whether to claim a queued job (its `tags:`), which must not decode a large
/// job twice. Stops at the manifest, or once `budget` bytes are decoded. Blocking.
package enum JobManifestPeek {
    package enum Outcome: Sendable, Equatable {
        case manifest(JobManifest)
        /// The archive ends without one.
        case none
        /// Not found within the budget, or the file or manifest is not readable: the full
        /// inspection after the claim decides.
        case unknown
    }

    package static func read(_ path: String, budget: Int64 = 16 << 20) -> Outcome {
        do {
            let reader = try XZStreamReader(path: path, maxDecompressedBytes: budget, subject: "the job file")
            defer { reader.discard() }
            var found: [UInt8]?
            try TarWalk(reader: reader).walk { entry throws(ConstruirError) in
                let path = try EntryPolicy.relativePath(entry.name, role: "name", entry: entry.name,
                                                        limits: ExtractionLimits(maxPathLength: 4096, maxPathDepth: 256))
                guard String(decoding: path.bytes, as: UTF8.self) == JobManifest.path, entry.type == construir_ae_ifreg() else { return false }
                found = try entry.readData(limit: JobImageLimits().maxManifestBytes)
                return true
            }
            guard let found else { return .none }
            return (try? JobManifest.parse(found)).map(Outcome.manifest) ?? .unknown
        } catch {
            return .unknown
        }
    }
}
