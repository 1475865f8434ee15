import ConstruirSystem
import Foundation
import JobModel
import VMHost

/// The tags a runner has (`JobTags`): the automatic ones, which say what the machine is, and
/// its own from `run --tag`. A job runs only on a runner that has every tag it asks for.
package struct RunnerTags: Sendable, Equatable {
    package var tags: Set<String>

    package init(_ tags: Set<String>) {
        self.tags = tags
    }

    /// `arch:MACHINE`, `accel:kvm|tcg`, `cpus:N` and `memory:NG` (whole GiB, rounded down),
    /// with `own` added. Throws for an own tag that is not one, or has a reserved prefix.
    package static func make(acceleration: Acceleration, own: [String], cpus: Int = ProcessInfo.processInfo.activeProcessorCount,
                             memoryBytes: UInt64 = ProcessInfo.processInfo.physicalMemory,
                             architecture: String = HostName.machine()) throws(ConstruirError) -> RunnerTags {
        try JobTags.check(own)
        for tag in own {
            if JobTags.isReserved(tag) {
                throw ConstruirError(.invalidArgument, "--tag \(tag): the prefixes \(JobTags.reservedPrefixes.map { $0 + ":" }.joined(separator: ", ")) are set by the runner itself or granted by a hub's token, not by --tag")
            }
        }
        let automatic = ["arch:\(architecture)", "accel:\(acceleration == .kvm ? "kvm" : "tcg")", "cpus:\(cpus)", "memory:\(memoryBytes >> 30)G"]
        return RunnerTags(Set(automatic + own))
    }

    /// The tags of the job's manifest this runner lacks; empty when it may run it.
    package func missing(for manifest: JobManifest) -> [String] {
        JobTags.missing(manifest.tags, from: tags)
    }
}
