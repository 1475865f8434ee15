import ConstruirSystem
import Foundation
import JobModel

/// The disks of a job's VM, in its running directory: whether a warm VM's files are moved
/// there at its hand-over or fresh ones are made for a cold boot, the paths are the same.
struct JobDisks {
    let directory: String
    var output: String { "\(directory)/output.img" }
    var status: String { "\(directory)/status.img" }
    var config: String { "\(directory)/config.img" }
    var stages: String { "\(directory)/stages.img" }
    /// A secrets job's values, for the guest (private, removed with the other disks).
    var secrets: String { "\(directory)/secrets.img" }
    /// What QEMU writes of a secrets job's console, before `ConsoleRedaction` copies it redacted
    /// into the console log (removed with the disks).
    var rawConsole: String { "\(directory)/console.raw" }

    /// The file QEMU writes the guest's console to: the raw one of a job whose console is
    /// redacted, else the console log itself.
    func consoleWritten(redacted: Bool) -> String { redacted ? rawConsole : consoleLog }
    var consoleLog: String { "\(directory)/\(JobFiles.consoleLog)" }
    var stageMarkers: String { "\(directory)/\(StageMarkers.fileName)" }

    /// Makes the disks a cold boot attaches: a sparse output disk of `outputSize`, the status
    /// disk, and the environment and stages scripts when the job has them. Blocking.
    func create(outputSize: Int64, environment: [UInt8]?, stageScript: [UInt8]?, secrets secretsScript: [UInt8]? = nil) throws {
        try FileSystem.createSparseFile(output, size: outputSize)
        try FileSystem.createSparseFile(status, size: Int64(GuestStatus.diskSize))
        if let environment { try Data(environment).write(to: URL(fileURLWithPath: config)) }
        if let stageScript { try Data(stageScript).write(to: URL(fileURLWithPath: stages)) }
        if let secretsScript {
            try FileSystem.createSparseFile(secrets, size: Int64(secretsScript.count), mode: 0o600)
            try FileSystem.overwritePrefix(of: secrets, with: secretsScript)
        }
    }

    /// Removes what a failed warm hand-over left before the job boots cold. Blocking.
    func removeHandOverLeftovers() {
        for file in [output, status, consoleLog, JobDomain.record(in: directory)] { try? FileManager.default.removeItem(atPath: file) }
    }

    /// Removes the disks and the run's own files once the job's VM is gone; the console log,
    /// the output and result.json stay. Blocking.
    func remove() {
        for file in [output, status, config, stages, secrets, rawConsole, stageMarkers, JobDomain.record(in: directory)] {
            try? FileManager.default.removeItem(atPath: file)
        }
    }

    /// A config or stages disk's bytes: the script, NUL-padded to whole 4 KiB blocks.
    static func scriptBytes(_ script: String) -> [UInt8] {
        var bytes = Array(script.utf8)
        bytes += [UInt8](repeating: 0, count: Int(Units.roundUp(Int64(bytes.count) + 1, to: 4096)) - bytes.count)
        return bytes
    }
}
