import Glibc
import CArchive
import ConstruirSystem
import JobModel
import XZ

/// Reads a submitted job image completely before it is run, so that a file that is not a job
/// (not xz, truncated, corrupt, a bomb, no `job/construir`, unsafe entry names) is rejected
/// with a reason instead of costing a VM boot and surfacing as a guest-side failure.
///
/// The guest unpacks the job as root inside its own VM, so this is not what keeps the host safe;
/// it is what keeps the statuses honest. Entry names follow the output rules (relative, no `..`,
/// no control characters, UTF-8); symlink targets are not checked (a repository may hold
/// `lib -> /usr/lib`), device nodes are refused.
package enum JobImageInspector {
    package static let scriptPath = "job/construir"
    package static let manifestPath = JobManifest.path

    package static func inspect(_ path: String, limits: JobImageLimits = JobImageLimits()) throws(ConstruirError) -> JobImageInspection {
        let size: Int64
        do { size = try FileSystem.size(of: path) } catch {
            throw ConstruirError(.notFound, "cannot read the job file", cause: error)
        }
        if size == 0 { throw ConstruirError(.invalidArgument, "the job file is empty") }
        if size > limits.maxFileBytes {
            throw ConstruirError(.limitExceeded, "the job file is \(size) bytes, more than this runner's limit of \(limits.maxFileBytes) bytes (--max-job-size)")
        }
        // The tar stream carries headers besides the data: allow 8 KiB per entry on top.
        let (perEntry, overflow1) = Int64(limits.maxEntries).multipliedReportingOverflow(by: 8 << 10)
        let (cap, overflow2) = limits.maxUnpackedBytes.addingReportingOverflow(perEntry)
        let reader = try XZStreamReader(path: path, maxDecompressedBytes: overflow1 || overflow2 ? .max : cap,
                                        subject: "the job file")
        defer { reader.discard() }
        let walk = try TarWalk(reader: reader)
        var result = JobImageInspection(entries: 0, unpackedBytes: 0, compressedLength: 0, manifest: nil)
        var hasScript = false
        let entryLimits = ExtractionLimits(maxPathLength: 4096, maxPathDepth: 256)
        try walk.forEach { entry throws(ConstruirError) in
            result.entries += 1
            if result.entries > limits.maxEntries {
                throw ConstruirError(.limitExceeded, "the job has more than \(limits.maxEntries) entries")
            }
            let path = try EntryPolicy.relativePath(entry.name, role: "name", entry: entry.name, limits: entryLimits)
            if let hardlink = entry.hardlink {
                _ = try EntryPolicy.relativePath(hardlink, role: "hardlink target", entry: entry.name, limits: entryLimits)
            }
            let type = entry.type
            if type != construir_ae_ifreg(), type != construir_ae_ifdir(), type != construir_ae_iflnk(), entry.hardlink == nil {
                throw ConstruirError(.unsafeEntry, "job entry \(EntryPolicy.quoted(entry.name)) is a device, FIFO or socket, which jobs may not contain")
            }
            let (total, overflow) = result.unpackedBytes.addingReportingOverflow(max(entry.size, 0))
            if overflow || total > limits.maxUnpackedBytes {
                throw ConstruirError(.limitExceeded, "the job unpacks to more than \(limits.maxUnpackedBytes) bytes")
            }
            result.unpackedBytes = total
            let normalised = String(decoding: path.bytes, as: UTF8.self)
            if normalised == scriptPath {
                hasScript = type == construir_ae_ifreg() || entry.hardlink != nil
            } else if normalised == manifestPath {
                guard type == construir_ae_ifreg(), entry.hardlink == nil else {
                    throw ConstruirError(.invalidArgument, "\(manifestPath) must be a regular file")
                }
                if entry.size > limits.maxManifestBytes {
                    throw ConstruirError(.limitExceeded, "\(manifestPath) is larger than \(limits.maxManifestBytes) bytes")
                }
                result.manifest = try entry.readData(limit: limits.maxManifestBytes)
            } else if normalised == PackagedSource.path {
                guard type == construir_ae_ifreg(), entry.hardlink == nil, entry.size <= PackagedSource.maxBytes else {
                    throw ConstruirError(.invalidArgument, "\(PackagedSource.path) must be a regular file of at most \(PackagedSource.maxBytes) bytes")
                }
                result.source = try PackagedSource.parse(entry.readData(limit: PackagedSource.maxBytes))
            }
        }
        // A job runs job/construir, or the stages its manifest lists: one of them, never both.
        let hasStages = result.manifest.flatMap { try? JobManifest.parse($0) }.map { !$0.stages.isEmpty } ?? false
        if hasStages, hasScript {
            throw ConstruirError(.invalidArgument, "the job has both \(scriptPath) and stages: in \(manifestPath); it runs one or the other")
        }
        if !hasScript, !hasStages {
            throw ConstruirError(.invalidArgument, "the job has no \(scriptPath) script (nor stages: in \(manifestPath))")
        }
        result.compressedLength = try reader.finish()
        return result
    }
}
