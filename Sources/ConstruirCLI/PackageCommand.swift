import ArgumentParser
import ConstruirSystem
import Foundation
import HubAPI
import HubClient
import JobModel
import Logging
import Packager
import Runner

/// `construir package`: make job files from a git commit.
package struct PackageCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "package",
        abstract: "Turn a git commit into job files for the queue.",
        discussion: """
        The job holds the files git tracks at REV under repo/ and a job/construir wrapper that runs \
        repo/construir in /repo with REPO_URL, COMMIT_HASH, BRANCH, TAG, SOURCE_DATE_EPOCH (the \
        commit time) and -e variables set, then writes /repo/artifacts as the output, a tar.xz \
        that is byte-reproducible with GNU tar (images 0 and 1). A construir.yml at the repository's \
        root becomes job/construir.yml (with --image-digest's pin); with stages: in it no construir \
        script is needed, and the variables go into it. job/source.json records the commit. Files are named REPO_SHORTREV_iN.tar.xz, written \
        atomically, and byte-reproducible. With --hub the jobs go to a hub's queue instead, with a \
        submitter token. See docs/package.md and docs/hub.md.
        """)

    @Argument(help: "The git repository (a work tree or a bare repository).") var repo = "."
    @Option(help: "The commit to package.") var rev = "HEAD"
    @Option(help: ArgumentHelp("Build images to make jobs for, e.g. 0 or 0,1 (one file each).", valueName: "N[,M,...]"))
    var image = "0"
    @Option(help: "Directory holding the build images (N/image.json), to check --image against.") var images = "images"
    @Option(help: ArgumentHelp("Job file size, which is the room the job's output gets, e.g. 64M. Default: the archive's size, at least 1M.", valueName: "SIZE"))
    var outputSize: String?
    @Option(help: ArgumentHelp("Write the jobs into this queue directory.", valueName: "DIR")) var queue: String?
    @Option(name: .shortAndLong, help: ArgumentHelp("Write the job to this file (one image only).", valueName: "FILE"))
    var output: String?
    @Option(name: .customShort("e"), help: ArgumentHelp("Set a variable in the job's environment (repeatable).", valueName: "KEY=VALUE"))
    var env: [String] = []
    @Option(name: .customShort("p"), help: ArgumentHelp("Set a parameter the repository's construir.yml declares under params: (repeatable); checked against its choices, and required ones must be given.", valueName: "NAME=VALUE"))
    var param: [String] = []
    @Option(name: .customLong("tag"), help: ArgumentHelp("Run the job only on a runner with this tag (repeatable; tags: in job/construir.yml).", valueName: "TAG"))
    var tags: [String] = []
    @Option(help: ArgumentHelp("Pin the job to the build image with this digest (from `construir image list`); a runner whose image differs rejects it. One image only.", valueName: "HEX"))
    var imageDigest: String?
    @Flag(help: "Include submodules' files (from .git/modules or their checkouts).") var recurseSubmodules = false
    @Option(help: "xz threads, 0 for one per CPU (the output does not depend on it).") var threads = 0
    /// `--hub`: submit the jobs to a hub instead of writing them here.
    @OptionGroup var hubConnection: HubConnection
    @Flag(help: "With --hub: wait for each job, print its result and exit with its code, as `construir result` does.")
    var wait = false
    @Flag(help: "With --hub: print each job's console as it runs (implies --wait).") var follow = false
    @Flag(help: "Log debug details.") var verbose = false
    @Option(help: "Log format on standard error: text or json.") var logFormat: LogFormat = .text

    package init() {}

    package func validate() throws {
        if queue != nil && output != nil { throw ValidationError("give --queue or --output, not both") }
        if hubConnection.hub != nil && (queue != nil || output != nil) { throw ValidationError("give --hub, or --queue or --output, not both") }
        if hubConnection.hub == nil && (wait || follow) { throw ValidationError("--wait and --follow go with --hub") }
        guard threads >= 0 else { throw ValidationError("--threads must not be negative") }
        do {
            _ = try makeRequest()
        } catch {
            throw ValidationError("\(error)")
        }
    }

    package func run() async throws {
        let logger = RunCommand.makeLogger(verbose: verbose, format: logFormat)
        if let client = try hubConnection.makeClient() {
            let submitted: [HubReceipt]
            do {
                submitted = try await submit(to: client, logger: logger)
            } catch {
                logger.error("\(error)")
                await client.shutdown()
                throw ExitCode.failure
            }
            if wait || follow {
                do {
                    try await Self.await(submitted, client, follow: follow)
                } catch let exit as ExitCode {
                    await client.shutdown()
                    throw exit
                } catch {
                    await client.shutdown()
                    throw fail("package", "\(error)")
                }
            }
            await client.shutdown()
            return
        }
        do {
            let request = try makeRequest()
            let result = try await OwnThread.run("construir-package") {
                try JobPackager(logger: logger).package(request, progress: TerminalProgressBar())
            }
            logger.info("packaged", metadata: [
                "commit": "\(result.commit)", "entries": "\(result.entries)", "tar": "\(result.tarSize)",
                "xz": "\(result.archiveSize)", "file": "\(result.fileSize)",
            ])
            for file in result.files { print(file) }
        } catch {
            logger.error("\(error)")
            throw ExitCode.failure
        }
    }

    /// Packages into a private temporary directory, sends each job to the hub, and prints the
    /// name each got in the hub's queue.
    private func submit(to client: HubClient, logger: Logger) async throws -> [HubReceipt] {
        let scratch = "\(PrivateDirectory.runtimeBase())/package-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try PrivateDirectory.make(scratch)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var made = try makeRequest()
        made.destination = .directory(scratch)
        let request = made
        let files = try await OwnThread.run("construir-package") {
            try JobPackager(logger: logger).package(request, progress: TerminalProgressBar()).files
        }
        var receipts: [HubReceipt] = []
        for file in files {
            let receipt = try await client.submit(file: file, as: (file as NSString).lastPathComponent)
            logger.info("submitted to the hub", metadata: ["hub": "\(client.baseURL)", "job": "\(receipt.job)"])
            print(receipt.job)
            receipts.append(receipt)
        }
        return receipts
    }

    /// `--wait`/`--follow`: each submitted job to its end (its console printed as it runs with
    /// `follow`), then its result; exits with the first job's code that is not 0.
    static func await(_ submitted: [HubReceipt], _ client: HubClient, follow: Bool) async throws {
        var code: Int32 = 0
        for receipt in submitted {
            guard let id = receipt.id else { throw fail("package", "the hub did not say which id it gave \(receipt.job)") }
            if follow {
                let toTerminal = isatty(STDOUT_FILENO) == 1
                try await HubJobCommands.follow(id, client) { TerminalText.write(ArraySlice($0), toTerminal: toTerminal) }
            }
            var detail = try await client.job(id)
            while detail.job.state != .done {
                try await Task.sleep(for: .milliseconds(500))
                detail = try await client.job(id)
            }
            let result = try HubJobCommands.result(of: detail, command: "package")
            print(StatusText.result(result, directory: "\(client.baseURL) done/\(detail.job.location ?? "?")"), terminator: "")
            if code == 0 { code = JobExitCode.code(for: result.status) }
        }
        if code != 0 { throw ExitCode(code) }
    }

    /// The request the options describe (separate from `run` for tests).
    package func makeRequest() throws -> PackageRequest {
        let imageList = try image.split(separator: ",", omittingEmptySubsequences: false).map { part -> Int in
            let text = part.trimmingCharacters(in: .whitespaces)
            guard let index = Int(text), index >= 0 else {
                throw ConstruirError(.invalidArgument, "--image: '\(part)' is not an image index (0, 1, ...)")
            }
            return index
        }
        let destination: PackageRequest.Destination = if let output { .file(output) } else { .directory(queue ?? ".") }
        return PackageRequest(
            repository: repo, revision: rev, images: imageList, imagesDirectory: images,
            outputSize: try outputSize.map(Units.byteSize), destination: destination,
            environment: try env.map(EnvironmentVariable.init(parsing:)),
            parameters: try param.map(EnvironmentVariable.init(parsing:)),
            tags: try { () throws(ConstruirError) in try JobTags.check(tags); return tags }(),
            recurseSubmodules: recurseSubmodules, threads: threads,
            imageDigest: try imageDigest.map { digest throws(ConstruirError) in try ImageDigest.validated(digest, what: "--image-digest") })
    }
}
