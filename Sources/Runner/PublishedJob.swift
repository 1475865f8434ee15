import JobModel

/// A job that has just been published to done/, as handed to `Runner`'s `onPublished` (the
/// `--on-done` hook, and how `run-once` learns where its job went).
package struct PublishedJob: Sendable {
    /// Its directory in done/.
    package let directory: String
    package let result: JobResult

    package init(directory: String, result: JobResult) {
        self.directory = directory
        self.result = result
    }
}
