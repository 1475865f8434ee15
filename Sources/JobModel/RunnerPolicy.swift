/// The most a job may ask for through its manifest on this runner (`--max-timeout`,
/// `--max-memory`, `--max-cpus`, `--max-output-size`). A request above a cap rejects the job:
/// clamping would run it under limits it did not ask for and fail it in a confusing way.
package struct RunnerPolicy: Sendable, Equatable {
    package var maxTimeout: Duration
    package var maxMemoryMiB: Int
    package var maxCpus: Int
    package var maxOutputSize: Int64

    package init(maxTimeout: Duration = .seconds(6 * 3600), maxMemoryMiB: Int = 8192, maxCpus: Int = 4,
                maxOutputSize: Int64 = 4 << 30) {
        self.maxTimeout = maxTimeout
        self.maxMemoryMiB = maxMemoryMiB
        self.maxCpus = maxCpus
        self.maxOutputSize = maxOutputSize
    }
}
