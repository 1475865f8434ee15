import HubOpenAPI
import JobModel

// The API's JSON documents are the types generated from openapi.yaml; these are the names the
// hub and its clients use for them.

public typealias HubClaim = Components.Schemas.HubClaim
public typealias HubClaimRequest = Components.Schemas.HubClaimRequest
public typealias HubErrorBody = Components.Schemas.HubErrorBody
public typealias HubHeartbeatReply = Components.Schemas.HubHeartbeatReply
public typealias HubImage = Components.Schemas.HubImage
public typealias HubReceipt = Components.Schemas.HubReceipt
public typealias HubStatus = Components.Schemas.HubStatus

extension Components.Schemas.HubImage {
    public typealias File = Components.Schemas.HubImageFile
}

extension Components.Schemas.HubStatus {
    public typealias Runner = Components.Schemas.HubStatusRunner
    public typealias Lease = Components.Schemas.HubStatusLease
    public typealias Reputation = Components.Schemas.HubReputation
}

extension Components.Schemas.HubReputation {
    /// A runner with no record yet.
    public init() {
        self.init(agreed: 0, disputed: 0, errors: 0)
    }
}

extension Components.Schemas.JobStatus {
    /// A result's status as the API spells it (the same words).
    public init(_ status: JobResult.Status) {
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

public typealias HubJobSummary = Components.Schemas.HubJobSummary
public typealias HubJobPage = Components.Schemas.HubJobPage
public typealias HubJobDetail = Components.Schemas.HubJobDetail
public typealias HubJobState = Components.Schemas.HubJobState
public typealias HubJobStatus = Components.Schemas.JobStatus
