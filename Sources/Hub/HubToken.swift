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

    package init(name: String, role: HubRole, sha256: String, created: Date, revoked: Date? = nil) {
        self.name = name
        self.role = role
        self.sha256 = sha256
        self.created = created
        self.revoked = revoked
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
