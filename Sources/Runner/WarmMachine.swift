import ConstruirSystem
import Foundation
import JobModel
import VMHost

/// A VM booted before its job existed: it has seen nothing of any job, and serves exactly one.
///
/// Every disk a job can need is attached at its boot, backed by files in `directory`: the job
/// disk (sparse, as large as a job may be), an output disk of one block, the status disk, and
/// config and stage disks of `scriptDiskSize`. The hand-over fills them and then grows the
/// output disk to the job's output size, which is the agent's signal (guest protocol 3).
package struct WarmMachine: Sendable {
    package let machine: any JobMachine
    package let configuration: DomainConfiguration
    package let directory: String
    package let image: Int
    /// The image's digest when the VM booted: a job runs on a warm VM only of the digest it
    /// would get cold, and a VM whose image changed since is replaced.
    package let imageDigest: String
    package let bootedAt: Date
    let booted: ContinuousClock.Instant

    /// The config and stage disks' size: a job whose environment or stage script is larger runs cold.
    package static let scriptDiskSize: Int64 = 1 << 20
    /// The output disk's size until the hand-over: one block, not 0, since the kernel announces
    /// a change from an empty disk with no uevent.
    package static let idleOutputSize: Int64 = 4096
    /// Added to the kernel command line: the agent waits for a hand-over.
    package static let commandLineFlag = "construir.warm=1"

    package var name: String { configuration.name }
    package var memoryMiB: Int { configuration.memoryMiB }
    package var cpus: Int { configuration.cappedCPUs }
    package var consoleLog: String { configuration.consoleLog }
    var jobDisk: String { "\(directory)/job.img" }
    var outputDisk: String { "\(directory)/output.img" }
    var statusDisk: String { "\(directory)/status.img" }
    var configDisk: String { "\(directory)/config.img" }
    var stagesDisk: String { "\(directory)/stages.img" }

    /// Boots a warm VM of `image` in `directory` (created here, private).
    static func boot(name: String, image: BuildImage, digest: String, directory: String, options: RunnerOptions,
                     hypervisor: any VirtualMachineManager) async throws -> WarmMachine {
        let relabel = !hypervisor.isEmbedded
        let configuration = try await OwnThread.run("construir-warm-disks") {
            try makeDisks(name: name, image: image, directory: directory, options: options, relabel: relabel)
        }
        let machine = try await hypervisor.start(configuration)
        return WarmMachine(machine: machine, configuration: configuration, directory: directory, image: image.index,
                           imageDigest: digest, bootedAt: Date(), booted: .now)
    }

    /// Makes `directory` and a warm VM's idle disks in it; returns the domain's configuration. Blocks.
    private static func makeDisks(name: String, image: BuildImage, directory: String, options: RunnerOptions,
                                  relabel: Bool) throws -> DomainConfiguration {
        try PrivateDirectory.makeInside(directory)
        let paths = (job: "\(directory)/job.img", output: "\(directory)/output.img", status: "\(directory)/status.img",
                     config: "\(directory)/config.img", stages: "\(directory)/stages.img")
        try FileSystem.createSparseFile(paths.job, size: Units.roundUp(options.jobLimits.maxFileBytes, to: 4096), mode: 0o600)
        try FileSystem.createSparseFile(paths.output, size: idleOutputSize, mode: 0o600)
        try FileSystem.createSparseFile(paths.status, size: Int64(GuestStatus.diskSize), mode: 0o600)
        try FileSystem.createSparseFile(paths.config, size: scriptDiskSize, mode: 0o600)
        try FileSystem.createSparseFile(paths.stages, size: scriptDiskSize, mode: 0o600)
        return JobDomain.configuration(
            name: name, image: image, memoryMiB: options.memoryMiB, cpus: options.cpus,
            commandLine: image.manifest.cmdline + " " + commandLineFlag, job: paths.job, output: paths.output,
            status: paths.status, config: paths.config, stages: paths.stages, consoleLog: "\(directory)/console.log",
            options: options, relabel: relabel)
    }

    /// What the guest's status disk says: `.waiting` once the agent is ready for a job.
    func guestState() -> GuestStatus.State? {
        let bytes = (try? FileSystem.readPrefix(of: statusDisk, count: GuestStatus.diskSize)) ?? []
        return (try? GuestStatus.parse(bytes))??.state
    }

    /// Hands `job` over: writes its bytes, environment and stage script into this VM's disks,
    /// moves the console log and the status and output disks into the job's directory (where
    /// the cold path keeps them), records the domain there for a runner that takes the job over
    /// after a crash, and grows the output disk to `outputSize`, which starts the guest.
    func handOver(_ job: ClaimedJob, outputSize: Int64, environment: [UInt8]?, stages: [UInt8]?) async throws {
        try await OwnThread.run("construir-handover") { try self.moveIn(job, environment: environment, stages: stages) }
        guard let target = configuration.diskTarget(serial: "construir-output") else {
            throw ConstruirError(.internalError, "the warm VM has no output disk")
        }
        try await machine.resizeDisk(target: target, bytes: outputSize)
    }

    /// The file part of the hand-over. Blocks.
    private func moveIn(_ job: ClaimedJob, environment: [UInt8]?, stages: [UInt8]?) throws {
        let jobSize = try FileSystem.size(of: job.jobPath)
        guard jobSize <= (try FileSystem.size(of: jobDisk)) else {
            throw ConstruirError(.limitExceeded, "the job is larger than the warm VM's job disk")
        }
        try Data(name.utf8).write(to: URL(fileURLWithPath: JobDomain.record(in: job.directory)))
        try FileSystem.copyContents(of: job.jobPath, into: jobDisk)
        if let environment { try FileSystem.overwritePrefix(of: configDisk, with: environment) }
        if let stages { try FileSystem.overwritePrefix(of: stagesDisk, with: stages) }
        try FileSystem.renameReplacing(consoleLog, "\(job.directory)/\(JobFiles.consoleLog)")
        try FileSystem.renameReplacing(statusDisk, "\(job.directory)/status.img")
        try FileSystem.renameReplacing(outputDisk, "\(job.directory)/output.img")
    }
}
