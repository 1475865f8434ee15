import ArgumentParser
import ConstruirSystem
import Foundation
import JobModel
import Runner
import VMHost

/// `construir doctor`: checks that this machine and these directories can run jobs, and says
/// what to fix. Exits non-zero when the runner cannot work; TCG-only is a warning.
package struct DoctorCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check that this machine can run jobs and print what to fix.",
        discussion: """
        Checks /dev/kvm and a hardware KVM module, the QEMU binary, the libvirt version, the \
        build images and their sha256 values, the queue, done and state directories, and free \
        disk space. Exits 1 when a check fails; warnings (such as TCG-only) do not fail.
        """)

    @Option(help: "Directory watched for jobs.") var queue = "queue"
    @Option(help: "Directory that receives finished jobs.") var done = "done"
    @Option(help: "Directory holding the build images.") var images = "images"
    @Option(help: "Runner state directory. Default: QUEUE/.construir") var state: String?

    package init() {}

    package func run() throws {
        let doctor = Doctor(queue: FileSystem.absolute(queue), done: FileSystem.absolute(done),
                            images: FileSystem.absolute(images), state: state.map(FileSystem.absolute))
        let checks = doctor.run()
        print(Doctor.format(checks), terminator: "")
        if checks.contains(where: { $0.level == .failure }) { throw ExitCode.failure }
    }
}
