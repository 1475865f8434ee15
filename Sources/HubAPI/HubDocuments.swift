import HubOpenAPI
import JobModel

// The API's JSON documents are the types generated from openapi.yaml; these are the names the
// hub and its clients use for them.

package typealias HubClaim = Components.Schemas.HubClaim
package typealias HubClaimRequest = Components.Schemas.HubClaimRequest
package typealias HubErrorBody = Components.Schemas.HubErrorBody
package typealias HubHeartbeatReply = Components.Schemas.HubHeartbeatReply
package typealias HubImage = Components.Schemas.HubImage
package typealias HubReceipt = Components.Schemas.HubReceipt
package typealias HubStatus = Components.Schemas.HubStatus

extension Components.Schemas.HubImage {
    package typealias File = Components.Schemas.HubImageFile
}

extension Components.Schemas.HubStatus {
    package typealias Runner = Components.Schemas.HubStatusRunner
    package typealias Lease = Components.Schemas.HubStatusLease
    package typealias Reputation = Components.Schemas.HubReputation
}

extension Components.Schemas.HubReputation {
    /// A runner with no record yet.
    package init() {
        self.init(agreed: 0, disputed: 0, errors: 0, agreedInARow: 0)
    }
}

extension Components.Schemas.JobStatus {
    /// A result's status as the API spells it (the same words).
    package init(_ status: JobResult.Status) {
        switch status {
        case .passed: self = .passed
        case .passedWithFailures: self = .passedWithFailures
        case .failed: self = .failed
        case .timedOut: self = .timedOut
        case .error: self = .error
        case .rejected: self = .rejected
        case .disputed: self = .disputed
        case .killed: self = .killed
        }
    }
}

package typealias HubJobSummary = Components.Schemas.HubJobSummary
package typealias HubJobPage = Components.Schemas.HubJobPage
package typealias HubJobDetail = Components.Schemas.HubJobDetail
package typealias HubJobState = Components.Schemas.HubJobState
package typealias HubJobStatus = Components.Schemas.JobStatus
