import Foundation
import JobModel

/// One token of a hub as its tokens file keeps it: the name and role it was given, and the
/// sha256 of the secret, never the secret itself.
package struct HubToken: Codable, Sendable, Equatable {
    package var name: String
    package var role: HubRole
    /// Lowercase hex sha256 of the secret the holder sends as `Authorization: Bearer SECRET`.
    package var sha256: String
    package var created: Date
    /// Set by `hub token revoke`; a revoked token authenticates nothing.
    package var revoked: Date?
    /// Tags the hub grants a runner token's runners (`hub token add --tag owner:alice`): only
    /// the hub gives them, and a runner cannot claim them for itself (`JobTags`).
    package var tags: [String]?

    package init(name: String, role: HubRole, sha256: String, created: Date, revoked: Date? = nil, tags: [String]? = nil) {
        self.name = name
        self.role = role
        self.sha256 = sha256
        self.created = created
        self.revoked = revoked
        self.tags = tags
    }

    /// What a runner of this token has, from the tags its runner claims (`run --tag` and the
    /// automatic ones): those, without the `owner:` ones, which only the hub grants, and the
    /// ones it grants this token.
    package func runnerTags(claimed: [String]) -> Set<String> {
        Set(claimed.filter { !$0.hasPrefix(JobTags.ownerPrefix) }).union(tags ?? [])
    }

    /// Longest token name: it appears in results (`runner_id`), logs and the status page.
    package static let maxNameLength = 64

    /// Why `name` cannot name a token, or nil when it can: 1 to 64 characters of
    /// `[A-Za-z0-9._-]` (`SafeName`), not starting with `.` or `-`.
    package static func problem(withName name: String) -> String? {
        guard !name.isEmpty, name.utf8.count <= maxNameLength else {
            return "a token name has 1 to \(maxNameLength) characters"
        }
        guard SafeName.isSafe(name), !name.hasPrefix("."), !name.hasPrefix("-") else {
            return "'\(name)' is not a valid token name (letters, digits, '.', '_' and '-', not starting with '.' or '-')"
        }
        return nil
    }
}
