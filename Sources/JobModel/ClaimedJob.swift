import ConstruirSystem
import Foundation

/// A job taken from the queue: its file now lives in its own running directory.
package struct ClaimedJob: Sendable {
    package let name: JobName
    /// `STATE/running/ID/`: everything about this job until it is published to done/.
    package let directory: String
    /// When the job file was written into the queue (its mtime).
    package let queuedAt: Date
    /// 1 for a fresh claim; n when this is the n-th runner to take the job after earlier ones
    /// died while running it.
    package var attempt: Int = 1
    /// Which of the runner's slots runs it (1-based).
    package var slot: Int = 1
    /// The digest the job's build image must have (a hub's, `HubClaim.imageDigest`): on any
    /// other image, or none, the job ends in `error` without booting.
    package var requiredImageDigest: String?

    package init(name: JobName, directory: String, queuedAt: Date, attempt: Int = 1, slot: Int = 1) {
        self.name = name
        self.directory = directory
        self.queuedAt = queuedAt
        self.attempt = attempt
        self.slot = slot
    }

    /// The submitted job image, kept unchanged.
    package var jobPath: String { "\(directory)/\(JobFiles.job)" }
    package var resultPath: String { "\(directory)/\(JobFiles.result)" }
    package var id: String { (directory as NSString).lastPathComponent }
    /// Whether a result was committed before the runner died: then only publishing is left.
    package var hasResult: Bool { FileSystem.exists(resultPath) }
}
