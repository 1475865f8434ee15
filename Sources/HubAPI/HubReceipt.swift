/// The hub's answer to a finished upload: where the job ended up.
public struct HubReceipt: Codable, Sendable, Equatable {
    /// The job's file name.
    public var job: String
    /// Its directory in the hub's done/ (a result), or its file name in the queue (a submission).
    public var location: String
    /// The status the hub recorded (results only): the runner's, or `error` if its upload was refused.
    public var status: String?

    public init(job: String, location: String, status: String? = nil) {
        self.job = job
        self.location = location
        self.status = status
    }
}
