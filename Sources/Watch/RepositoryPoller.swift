import ConstruirSystem
import Foundation
import JobModel
import Logging
import Packager

/// The git side of watching one repository, through the packager's `Git` (a stripped
/// environment, no prompts): asking the remote for its refs, fetching the moved ones into a
/// bare mirror, listing new commits, checking conditions, packaging. Every call blocks; the
/// watcher makes them on threads of their own.
package struct RepositoryPoller: Sendable {
    package let repository: WatchRepository
    /// `STATE/mirrors/KEY/NAME.git`: named after the repository, because the job's name is
    /// the packaged repository's directory name; under its key, so two repositories of the
    /// same name keep apart.
    package let mirror: String

    package init(repository: WatchRepository, stateDirectory: String) {
        self.repository = repository
        mirror = "\(stateDirectory)/mirrors/\(repository.key)/\(repository.name).git"
    }

    /// Options that keep a dead server from holding a poll for long.
    private static let network = ["-c", "http.lowSpeedLimit=1", "-c", "http.lowSpeedTime=60"]

    /// Creates the mirror on first use, with `origin` set to the URL (the job's REPO_URL).
    package func prepareMirror() throws(ConstruirError) {
        if !FileSystem.isDirectory(mirror) {
            do { try FileSystem.makeDirectory((mirror as NSString).deletingLastPathComponent, mode: 0o700) } catch {
                throw ConstruirError(.system, "cannot create the mirror directory for \(repository.url)", cause: error)
            }
            _ = try Git.run(["init", "--bare", "-q", mirror]) { ConstruirError(.system, "cannot create the mirror \(mirror): \($0)") }
        }
        _ = try Git.run(["config", "remote.origin.url", repository.url], in: mirror) {
            ConstruirError(.system, "cannot set the mirror's origin: \($0)")
        }
    }

    /// The remote's branches and tags (`git ls-remote`), an annotated tag as the commit it names.
    package func remoteRefs() throws(ConstruirError) -> [String: String] {
        let output = try Git.run(Self.network + ["ls-remote", "--heads", "--tags", repository.url], in: mirror) {
            ConstruirError(.system, "cannot reach \(repository.url): \($0)")
        }
        return Self.parseRefs(String(decoding: output, as: UTF8.self))
    }

    /// `git ls-remote` output as `ref → commit`: `refs/tags/X^{}` (the commit an annotated tag
    /// points to) replaces `refs/tags/X`.
    package static func parseRefs(_ text: String) -> [String: String] {
        var refs: [String: String] = [:]
        var peeled: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "\t", maxSplits: 1).map(String.init)
            guard parts.count == 2, parts[0].count >= 40, parts[0].allSatisfy(\.isHexDigit) else { continue }
            if parts[1].hasSuffix("^{}") { peeled[String(parts[1].dropLast(3))] = parts[0] } else { refs[parts[1]] = parts[0] }
        }
        return refs.merging(peeled) { $1 }
    }

    /// Fetches `refs` into the mirror under the same names; returns the commit each now is
    /// there (it may be newer than what ls-remote said, if it moved meanwhile).
    package func fetch(_ refs: [String]) throws(ConstruirError) -> [String: String] {
        guard !refs.isEmpty else { return [:] }
        _ = try Git.run(Self.network + ["fetch", "-q", "--no-tags", "--update-head-ok", "--no-write-fetch-head", repository.url]
                        + refs.map { "+\($0):\($0)" }, in: mirror) {
            ConstruirError(.system, "cannot fetch from \(repository.url): \($0)")
        }
        var tips: [String: String] = [:]
        for ref in refs {
            let line = try Git.run(["rev-parse", "--verify", "-q", "\(ref)^{commit}"], in: mirror) {
                ConstruirError(.system, "\(ref) of \(repository.url) names no commit: \($0)")
            }
            tips[ref] = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return tips
    }

    /// The commits after `old` up to `new`, oldest first (parents before children). Empty when
    /// `old` is not in the mirror (a state directory whose mirror was removed).
    package func commits(after old: String, upTo new: String) throws(ConstruirError) -> [String] {
        guard try Git.output(["cat-file", "-e", "\(old)^{commit}"], in: mirror) != nil else { return [] }
        let output = try Git.run(["rev-list", "--reverse", "--topo-order", new, "^\(old)"], in: mirror) {
            ConstruirError(.system, "cannot list the commits of \(repository.url) after \(old): \($0)")
        }
        return String(decoding: output, as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init)
    }

    /// Why `commit` is not built (a `file_exists` or `directory_exists` path it lacks); nil when it is.
    package func unmetCondition(_ commit: String) throws(ConstruirError) -> String? {
        let wanted = repository.fileExists.map { ($0, "blob", "file") } + repository.directoryExists.map { ($0, "tree", "directory") }
        for (path, type, what) in wanted {
            let answer = try Git.output(["cat-file", "-t", "\(commit):\(path)"], in: mirror)
            guard let answer, String(decoding: answer, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) == type else {
                return "it has no \(what) \(path)"
            }
        }
        return nil
    }

    /// Packages `commit` (seen on `ref`) into `directory`; BRANCH or TAG is set from the ref,
    /// since a commit hash alone gives neither.
    package func package(_ commit: String, ref: String, into directory: String, imagesDirectory: String, logger: Logger)
        throws(ConstruirError) -> PackageResult {
        let isTag = ref.hasPrefix("refs/tags/")
        let name = String(ref.dropFirst(isTag ? "refs/tags/".count : "refs/heads/".count))
        let refVariables = [try EnvironmentVariable(name: isTag ? "TAG" : "BRANCH", value: name)]
        let request = PackageRequest(repository: mirror, revision: commit, images: repository.images, imagesDirectory: imagesDirectory,
                                     destination: .directory(directory), environment: refVariables + repository.environment)
        return try JobPackager(logger: logger).package(request)
    }
}
