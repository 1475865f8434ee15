import Foundation

/// One runner's hold on a job, as the API hands it out: the job and that runner's part.
package struct HubHold: Sendable, Equatable {
    package var job: HubJob
    package var hold: HubJob.Hold

    package init(job: HubJob, hold: HubJob.Hold) {
        self.job = job
        self.hold = hold
    }

    package var id: String { job.id }
    package var fileName: String { job.job }
    package var holder: String { hold.holder }
    package var attempt: Int { hold.attempt }
    package var serial: Int { hold.serial }
    package var expires: Date { hold.expires }
    package var sha256: String { job.sha256 }
    package var size: Int64 { job.size }
    package var queued: Date { job.queued }
}
