import ConstruirSystem
import Foundation
import JobModel

/// Where a repository's job states go: `report:` in the repos file.
package enum ReportTarget: Sendable, Equatable {
    /// A commit status on a Gitea, Forgejo or GitHub forge (`POST {api}/repos/{owner}/{repo}/statuses/{sha}`).
    case forge(Forge)
    /// A command run with /bin/sh -c, the job in its environment (CONSTRUIR_JOB, CONSTRUIR_STATUS, ...).
    case command(String)

    package struct Forge: Sendable, Equatable {
        package enum Kind: String, Sendable, CaseIterable { case gitea, forgejo, github }
        package var kind: Kind
        /// The API's base URL, e.g. https://codeberg.org/api/v1 or https://api.github.com.
        package var api: URL
        /// Read from `token_file` (mode 0600) when the repos file is loaded, never logged.
        package var token: String
        package var context: String
        /// `{owner}/{repo}` from the repository URL's last two path components.
        package var owner: String
        package var repository: String
    }

    /// `owner` and `repo` of a repository URL (or scp-like `git@host:owner/repo.git`): its last
    /// two path components, the last without `.git`.
    package static func ownerAndRepository(of url: String) -> (owner: String, repository: String)? {
        var path = url
        if let parsed = URL(string: url), parsed.scheme != nil { path = parsed.path }
        else if let colon = url.firstIndex(of: ":"), !url.hasPrefix("/") { path = String(url[url.index(after: colon)...]) }
        let parts = path.split(separator: "/").map(String.init)
        guard parts.count >= 2 else { return nil }
        var repository = parts[parts.count - 1]
        if repository.hasSuffix(".git") { repository.removeLast(4) }
        guard !repository.isEmpty else { return nil }
        return (parts[parts.count - 2], repository)
    }
}
