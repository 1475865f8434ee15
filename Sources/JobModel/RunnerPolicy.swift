/// The most a job may ask for through its manifest on this runner (`--max-timeout`,
/// `--max-memory`, `--max-cpus`, `--max-output-size`). A request above a cap rejects the job:
/// clamping would run it under limits it did not ask for and fail it in a confusing way.
public struct RunnerPolicy: Sendable, Equatable {
    public var maxTimeout: Duration
    public var maxMemoryMiB: Int
    public var maxCpus: Int
    public var maxOutputSize: Int64

    public init(maxTimeout: Duration = .seconds(6 * 3600), maxMemoryMiB: Int = 8192, maxCpus: Int = 4,
                maxOutputSize: Int64 = 4 << 30) {
        self.maxTimeout = maxTimeout
        self.maxMemoryMiB = maxMemoryMiB
        self.maxCpus = maxCpus
        self.maxOutputSize = maxOutputSize
    }
}
