/// What a hub token may do. A runner claims jobs and sends results; a submitter adds jobs.
/// Neither can do the other's part, so a leaked runner token cannot inject jobs.
package enum HubRole: String, Codable, Sendable, CaseIterable {
    case runner
    case submitter
}
