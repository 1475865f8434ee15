import JobModel

/// A job that has just been published to done/, as handed to `Runner`'s `onPublished` (the
/// `--on-done` hook, and how `run-once` learns where its job went).
public struct PublishedJob: Sendable {
    /// Its directory in done/.
    public let directory: String
    public let result: JobResult

    public init(directory: String, result: JobResult) {
        self.directory = directory
        self.result = result
    }
}
