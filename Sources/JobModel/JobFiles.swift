/// The names of the files in a job's directory, from its claim (`running/ID/`) to done/
/// (`done/NAME/`); a hub's job directory, and each replica's under it, use the same names.
package enum JobFiles {
    /// The submitted job image, kept unchanged.
    package static let job = "job.tar.xz"
    /// The job's `JobResult`, written once the job has ended: a directory holding it needs only
    /// publishing.
    package static let result = "result.json"
    /// The VM's serial console, as the guest wrote it (capped).
    package static let consoleLog = "console.log"
    /// The output disk's archive, kept whole (`construir extract` unpacks it).
    package static let outputArchive = "output.tar.xz"
    /// The output archive extracted: a directory.
    package static let output = "output"
    /// A runner's record of failed publishes (`PublishFailure`) while the job waits in
    /// running/; it never goes to done/.
    package static let publishFailure = "unpublished.json"
}
