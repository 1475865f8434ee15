import ArgumentParser
import JobModel

/// How `run-once` and `try` run their one job: the options of the `construir run` they are.
struct RunOnceOptions: ParsableArguments {
    @Option(help: "Directory that receives the finished job.") var done = "done"
    @Option(help: "Directory holding the build images (images/N/image.json).") var images = "images"
    @Option(help: "Longest the job may run, e.g. 90s, 30m, 2h.") var timeout = "30m"
    @Option(help: "Guest memory, e.g. 512M, 1G.") var memory = "1G"
    @Option(help: "Guest vCPUs.") var cpus = 1
    @Option(help: "libvirt URI. Default: the embedded QEMU driver (no daemon).") var connect: String?
    @Option(help: "auto, kvm or tcg.") var accel = "auto"
    @Option(help: ArgumentHelp("After the job is published, run /bin/sh -c COMMAND with its done directory as $1.", valueName: "COMMAND"))
    var onDone: String?
    @Option(help: "Longest the --on-done command may run.") var onDoneTimeout = "60s"
    @Option(help: ArgumentHelp("A YAML file of NAME: value (mode 0600) with the secrets the job may ask for (as run --secrets).", valueName: "FILE"))
    var secrets: String?
    @Flag(help: "Do not print the console while the job runs.") var quiet = false
    @Flag(help: "Log debug details.") var verbose = false
    @Option(help: "Log format on standard error: text or json.") var logFormat: LogFormat = .text

    init() {}

    /// The `construir run` this is: the same options over a private queue.
    func runCommand(queue: String, state: String, defaultImage: Int, connect: String? = nil, imageDigests: String? = nil) throws -> RunCommand {
        let connect = connect ?? self.connect
        var arguments = [
            "--queue", queue, "--state", state, "--done", done, "--images", images, "--timeout", timeout,
            "--memory", memory, "--cpus", "\(cpus)", "--default-image", "\(defaultImage)", "--accel", accel,
            "--log-format", logFormat.rawValue, "--on-done-timeout", onDoneTimeout, "--exit-when-idle", "--slots", "1", "--grace", "0s",
            // One job, whose VM boots when it is there: a warm VM would only be booted and destroyed.
            "--warm", "0",
        ]
        if let connect { arguments += ["--connect", connect] }
        if let imageDigests { arguments += ["--image-digests", imageDigests] }
        if let onDone { arguments += ["--on-done", onDone] }
        if let secrets { arguments += ["--secrets", secrets] }
        if verbose { arguments.append("--verbose") }
        return try RunCommand.parse(arguments)
    }
}
