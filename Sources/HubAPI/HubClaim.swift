import Foundation

/// The answer to a claim: a job leased to the calling runner.
public struct HubClaim: Codable, Sendable, Equatable {
    /// The lease's id, which names the job in every later call.
    public var id: String
    /// The job's file name (`NAME_iN.tar.xz`).
    public var job: String
    /// 1 for the first runner to get the job; n after n-1 leases ran out.
    public var attempt: Int
    /// The job image's sha256 and size: the download is checked against them.
    public var sha256: String
    public var size: Int64
    /// When the job arrived in the hub's queue.
    public var queued: Date
    /// How long the lease lasts without a heartbeat; send one well within it.
    public var leaseSeconds: Double
    /// The digest of the hub's build image the job runs on, when the hub serves that image:
    /// the runner runs the job only on an image with this digest.
    public var imageDigest: String?

    public init(id: String, job: String, attempt: Int, sha256: String, size: Int64, queued: Date, leaseSeconds: Double,
                imageDigest: String? = nil) {
        self.id = id
        self.job = job
        self.attempt = attempt
        self.sha256 = sha256
        self.size = size
        self.queued = queued
        self.leaseSeconds = leaseSeconds
        self.imageDigest = imageDigest
    }
}
