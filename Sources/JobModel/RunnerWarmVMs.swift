import Foundation

/// `STATE/runners/ID.warm.json`: the VMs a runner keeps booted ahead of their jobs
/// (`run --warm`), there while it keeps any.
public struct RunnerWarmVMs: RunnerRecord, Equatable {
    public static let suffix = ".warm.json"

    public struct VM: Codable, Sendable, Equatable {
        public enum State: String, Codable, Sendable {
            /// Started; its agent has not said it waits yet.
            case booting
            /// Its agent waits for a job.
            case ready
        }

        public var domain: String
        public var image: Int
        public var state: State
        public var booted: Date
        public var memoryMiB: Int
        public var cpus: Int

        public init(domain: String, image: Int, state: State, booted: Date, memoryMiB: Int, cpus: Int) {
            self.domain = domain
            self.image = image
            self.state = state
            self.booted = booted
            self.memoryMiB = memoryMiB
            self.cpus = cpus
        }

        enum CodingKeys: String, CodingKey {
            case domain, image, state, booted, cpus
            case memoryMiB = "memory_mib"
        }
    }

    public var runner: String
    public var vms: [VM]

    public init(runner: String, vms: [VM]) {
        self.runner = runner
        self.vms = vms
    }
}
