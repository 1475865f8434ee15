import Foundation

/// One runner's hold on a job, as the API hands it out: the job and that runner's part.
public struct HubHold: Sendable, Equatable {
    public var job: HubJob
    public var hold: HubJob.Hold

    public init(job: HubJob, hold: HubJob.Hold) {
        self.job = job
        self.hold = hold
    }

    public var id: String { job.id }
    public var fileName: String { job.job }
    public var holder: String { hold.holder }
    public var attempt: Int { hold.attempt }
    public var serial: Int { hold.serial }
    public var expires: Date { hold.expires }
    public var sha256: String { job.sha256 }
    public var size: Int64 { job.size }
    public var queued: Date { job.queued }
}
