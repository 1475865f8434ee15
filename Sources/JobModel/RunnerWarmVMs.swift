import Foundation

/// `STATE/runners/ID.warm.json`: the VMs a runner keeps booted ahead of their jobs
/// (`run --warm`), there while it keeps any.
package struct RunnerWarmVMs: RunnerRecord, Equatable {
    package static let suffix = ".warm.json"

    package struct VM: Codable, Sendable, Equatable {
        package enum State: String, Codable, Sendable {
            /// Started; its agent has not said it waits yet.
            case booting
            /// Its agent waits for a job.
            case ready
        }

        package var domain: String
        package var image: Int
        package var state: State
        package var booted: Date
        package var memoryMiB: Int
        package var cpus: Int

        package init(domain: String, image: Int, state: State, booted: Date, memoryMiB: Int, cpus: Int) {
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

    package var runner: String
    package var vms: [VM]

    package init(runner: String, vms: [VM]) {
        self.runner = runner
        self.vms = vms
    }
}
