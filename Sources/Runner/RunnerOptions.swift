import Archive
import ConstruirSystem
import Foundation
import JobModel
import Logging
import VMHost
import XZ

/// How the runner runs every job.
package struct RunnerOptions: Sendable {
    /// Defaults for a job whose manifest does not ask otherwise.
    package var timeout: Duration
    package var memoryMiB: Int
    package var cpus: Int
    /// Already resolved: never `.auto`.
    package var acceleration: Acceleration
    package var defaultImage: Int
    /// The output disk is as large as the submitted job file (construir's convention: a job is
    /// padded to make room for its output), and at least this; a manifest may ask for more.
    package var minimumOutputSize: Int64
    package var extractionLimits: ExtractionLimits
    /// The most a job's manifest may ask for.
    package var policy: RunnerPolicy
    /// Bounds on the submitted file, checked before booting.
    package var jobLimits: JobImageLimits
    /// The console log is cut here and the VM destroyed: a guest must not fill the host's disk
    /// by printing.
    package var maxConsoleBytes: Int64
    /// Where the sha256 of image files is remembered across processes (see `FileDigestStore`);
    /// nil: only for the life of this process.
    package var imageDigestStore: String?
    /// Run every VM at idle priority (`run --priority idle`, see `IdlePriority`).
    package var idlePriority = false
    /// The values jobs may ask for by name (`run --secrets`); nil: a job that asks for one ends `error`.
    package var secrets: RunnerSecrets?

    package init(timeout: Duration = .seconds(30 * 60), memoryMiB: Int = 1024, cpus: Int = 1,
                acceleration: Acceleration, defaultImage: Int = 0,
                minimumOutputSize: Int64 = 1 << 20, extractionLimits: ExtractionLimits = ExtractionLimits(),
                policy: RunnerPolicy = RunnerPolicy(), jobLimits: JobImageLimits = JobImageLimits(),
                maxConsoleBytes: Int64 = 16 << 20, imageDigestStore: String? = nil) {
        self.timeout = timeout
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.acceleration = acceleration
        self.defaultImage = defaultImage
        self.minimumOutputSize = minimumOutputSize
        self.extractionLimits = extractionLimits
        self.policy = policy
        self.jobLimits = jobLimits
        self.maxConsoleBytes = maxConsoleBytes
        self.imageDigestStore = imageDigestStore
    }
}
