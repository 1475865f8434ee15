import ConstruirSystem
import Foundation
import JobModel

/// One entry of the repos file: what to fetch, which refs to build, and where to report.
package struct WatchRepository: Sendable, Equatable {
    /// Anything git can fetch from, or a local path.
    package var url: String
    package var branches: RefSelection
    package var tags: RefSelection
    package var images: [Int]
    /// Paths a commit must have (as a file, or as a directory) to be built.
    package var fileExists: [String]
    package var directoryExists: [String]
    /// Extra variables for the job (as `package -e`).
    package var environment: [EnvironmentVariable]
    package var report: ReportTarget?

    package init(url: String, branches: RefSelection = .none, tags: RefSelection = .none, images: [Int] = [0],
                 fileExists: [String] = [], directoryExists: [String] = [], environment: [EnvironmentVariable] = [],
                 report: ReportTarget? = nil) {
        self.url = url
        self.branches = branches
        self.tags = tags
        self.images = images
        self.fileExists = fileExists
        self.directoryExists = directoryExists
        self.environment = environment
        self.report = report
    }

    /// Names the repository's state and mirror: the URL's SHA-256, so that an entry keeps its
    /// record when the repos file is reordered or other entries change, and two URLs ending in
    /// the same name do not share one.
    package var key: String {
        String(Hex.sha256(url).prefix(16))
    }

    /// The job's name comes from the mirror's directory name, so that is the URL's last path
    /// component without `.git` (`repo` when there is none).
    package var name: String {
        let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
        var last = trimmed.split(whereSeparator: { $0 == "/" || $0 == ":" }).last.map(String.init) ?? ""
        if last.hasSuffix(".git") { last.removeLast(4) }
        return JobName.sanitize(last)
    }

    /// Which watched ref `ref` (`refs/heads/X`, `refs/tags/X`) is, with its short name.
    package func watches(_ ref: String) -> Bool {
        if ref.hasPrefix("refs/heads/") { return branches.matches(String(ref.dropFirst("refs/heads/".count))) }
        if ref.hasPrefix("refs/tags/") { return tags.matches(String(ref.dropFirst("refs/tags/".count))) }
        return false
    }
}
