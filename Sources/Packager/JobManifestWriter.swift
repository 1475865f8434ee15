import Archive
import ConstruirSystem
import JobModel
import Yams

/// Writes a packaged job's `job/construir.yml`: the repository's own `construir.yml` (its
/// timeout, memory, stages, ...) with what the packager adds, `image_digest` when the job is
/// pinned and, for a job with stages (which has no wrapper to export them), the packager's
/// environment under `environment:`.
///
/// The merge works on the YAML tree (Yams), never on text, so the repository's fields come
/// through as it wrote them. A field that both set is an error naming it: the packager does not
/// guess which one was meant. The result is parsed back with `JobManifest.parse` and must fit
/// the runner's manifest limit, so a job the packager writes is one the runner reads.
enum JobManifestWriter {
    /// Who sets the packager's values, for messages.
    static let packagerName = "construir package"

    /// The manifest's bytes, or nil when the job needs none.
    /// - Parameters:
    ///   - repository: the repository's `construir.yml`, if it has one: its bytes and what
    ///     `JobManifest.parse` made of them.
    ///   - environment: the packager's variables; they may not repeat the repository's
    ///     `environment:`, and go into the manifest when `exportedByWrapper` is false.
    /// - Throws: `.invalidArgument` naming the field set twice or what is wrong with the file.
    static func manifest(repository: (bytes: [UInt8], parsed: JobManifest)?, imageDigest: String?, environment: [EnvironmentVariable],
                         exportedByWrapper: Bool, tags: [String] = []) throws(ConstruirError) -> [UInt8]? {
        var mapping = Node.Mapping([])
        let parsed = repository?.parsed ?? JobManifest()
        if let repository {
            mapping = try tree(repository.bytes)
        }
        if let imageDigest {
            if parsed.imageDigest != nil {
                throw ConstruirError(.invalidArgument, "image_digest is set both in \(JobLayout.manifestName) and by --image-digest: keep one")
            }
            mapping["image_digest"] = Node(imageDigest, .implicit, .plain)
        }
        let names = Set(parsed.environment.map(\.0))
        if let both = environment.first(where: { names.contains($0.name) }) {
            throw ConstruirError(.invalidArgument, "environment variable \(both.name) is set both in \(JobLayout.manifestName) (environment:) and by \(packagerName) (REPO_URL, COMMIT_HASH, BRANCH, TAG, SOURCE_DATE_EPOCH and -e): keep one")
        }
        if !exportedByWrapper, !environment.isEmpty {
            var variables = mapping["environment"]?.mapping ?? Node.Mapping([])
            for variable in environment {
                // Double-quoted: any value (quotes, newlines, `true`, digits) comes back as the same text.
                variables[variable.name] = Node(variable.value, .implicit, .doubleQuoted)
            }
            mapping["environment"] = .mapping(variables)
        }
        // `--tag`: added to the repository's own tags, each once.
        let allTags = parsed.tags + tags.filter { !parsed.tags.contains($0) }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        if allTags != parsed.tags {
            mapping["tags"] = .sequence(Node.Sequence(allTags.map { Node($0, .implicit, .doubleQuoted) }))
        }
        if mapping.isEmpty { return nil }

        let text: String
        do {
            text = try Yams.serialize(node: .mapping(mapping), width: -1, allowUnicode: true)
        } catch {
            throw ConstruirError(.internalError, "cannot write \(JobManifest.path): \(error)")
        }
        let bytes = Array(text.utf8)
        // What the runner will read: the same fields, within its limit.
        let limit = JobImageLimits().maxManifestBytes
        guard bytes.count <= limit else {
            throw ConstruirError(.invalidArgument, "\(JobManifest.path) would be \(bytes.count) bytes, more than the \(limit) a runner reads")
        }
        var expected = parsed
        if let imageDigest { expected.imageDigest = imageDigest }
        expected.tags = allTags
        if !exportedByWrapper { expected.environment += environment.map { ($0.name, $0.value) } }
        let written: JobManifest
        do {
            written = try JobManifest.parse(bytes)
        } catch {
            // The merge can go over a limit neither part reaches alone (the environment's size).
            throw ConstruirError(.invalidArgument, "a runner would refuse the job: \(error.message)")
        }
        guard written == expected else {
            throw ConstruirError(.internalError, "the \(JobManifest.path) written reads back differently")
        }
        return bytes
    }

    /// The YAML tree of the repository's `construir.yml`. `JobManifest.parse` accepted it, so it
    /// is UTF-8 YAML whose top is a mapping (or empty), without a key twice in any mapping
    /// (Yams refuses duplicates).
    private static func tree(_ bytes: [UInt8]) throws(ConstruirError) -> Node.Mapping {
        let node: Node?
        do {
            node = try Yams.compose(yaml: String(decoding: bytes, as: UTF8.self))
        } catch {
            throw ConstruirError(.invalidArgument, "\(JobLayout.manifestName) is not valid YAML: \(error)")
        }
        return node?.mapping ?? Node.Mapping([])
    }
}
