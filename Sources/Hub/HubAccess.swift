/// Who may make each call of the API, by its operationId in openapi.yaml. A test holds this
/// table to the description's tags and `security`, so an operation added there without an
/// entry here is refused to everyone, never served to anyone.
enum HubAccess: Equatable, Sendable {
    /// No token: the status page and /metrics.
    case open
    /// Any live token.
    case anyToken
    /// A live token of this role.
    case role(HubRole)
    /// Reading jobs: a submitter token (which then reads its own), or no token at all when
    /// the hub's results are public (`--results public`). Never a runner token.
    case jobReader

    static func of(operation id: String) -> HubAccess? {
        switch id {
        case "page", "metrics": .open
        case "status": .anyToken
        case "waitForWork", "claim", "downloadJob", "listImages", "downloadImageManifest", "downloadImageFile", "heartbeat",
             "release", "appendConsole", "uploadConsole", "uploadOutput", "sendResult": .role(.runner)
        case "submit", "stopJob": .role(.submitter)
        case "listJobs", "getJob", "readConsole", "downloadOutput": .jobReader
        default: nil
        }
    }
}
