import Foundation
import JobModel
import VMHost

/// A job VM's libvirt domain: its name, the record of it in the job's directory, its
/// configuration. The same for cold VMs and warm ones.
package enum JobDomain {
    /// Job VMs are named `construir-ID`, ID being the job's running directory.
    package static let prefix = "construir-"
    package static func name(jobID: String) -> String { prefix + jobID }

    /// Where a job's directory names the domain it runs in when that is not `name(jobID:)`
    /// (a warm VM): a runner taking the job over after a crash kills that one.
    package static func record(in directory: String) -> String { "\(directory)/domain" }

    /// The serial of a secrets job's disk of values (guest protocol 4).
    static let secretsSerial = "construir-secrets"
    /// The first guest protocol whose agent reads that disk.
    static let secretsProtocol = 4

    /// A job VM's domain, cold or warm: the job's disks, found by serial (config and stages only
    /// when given), then the image's root disk. The job's files are handed to QEMU's user by
    /// libvirt when it runs as another user (`relabel`, for qemu:///system); build image files
    /// are never relabelled, so they stay identical.
    static func configuration(name: String, image: BuildImage, memoryMiB: Int, cpus: Int, commandLine: String,
                              job: String, output: String, status: String, config: String?, stages: String?, secrets: String? = nil,
                              consoleLog: String, options: RunnerOptions, relabel: Bool) -> DomainConfiguration {
        var disks: [DomainConfiguration.Disk] = [
            .init(path: job, serial: "construir-job", readOnly: true, relabel: relabel),
            .init(path: output, serial: "construir-output", readOnly: false, relabel: relabel),
            .init(path: status, serial: "construir-status", readOnly: false, relabel: relabel),
        ]
        if let config { disks.append(.init(path: config, serial: "construir-config", readOnly: true, relabel: relabel)) }
        if let stages { disks.append(.init(path: stages, serial: StageDriver.diskSerial, readOnly: true, relabel: relabel)) }
        if let secrets { disks.append(.init(path: secrets, serial: secretsSerial, readOnly: true, relabel: relabel)) }
        if let rootfs = image.rootfsPath {
            disks.append(.init(path: rootfs, serial: "construir-root", readOnly: true, relabel: false))
        }
        var configuration = DomainConfiguration(
            name: name, acceleration: options.acceleration, memoryMiB: memoryMiB, cpus: cpus,
            kernel: image.kernelPath, initrd: image.initrdPath, commandLine: commandLine, disks: disks, consoleLog: consoleLog)
        configuration.relabelConsole = relabel
        configuration.idlePriority = options.idlePriority
        return configuration
    }
}
