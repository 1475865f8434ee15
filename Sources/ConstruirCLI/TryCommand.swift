import ArgumentParser
import ConstruirSystem
import Foundation
import JobModel
import Logging
import Packager

/// `construir try [REPO]`: run the working tree as a job before committing or pushing it.
///
/// It is `construir package` of the working tree (`WorkingTreeSnapshot`: uncommitted changes
/// and untracked files that are not ignored, on top of HEAD, the repository left as it was)
/// followed by `construir run-once` of that job (`RunOnceCommand.runJob`: the runner itself).
/// The job's `job/source.json` records HEAD and whether the working tree differed, and the
/// runner copies it into result.json as `source`.
package struct TryCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "try",
        abstract: "Run a repository's working tree, uncommitted changes included, as a job in the foreground.",
        discussion: """
        Packages the working tree of REPO as `construir package` packages a commit: the committed \
        files, uncommitted changes and untracked files that are not ignored, on top of HEAD. The \
        repository is not changed (no ref, index, HEAD or file; git writes loose objects only). \
        The job then runs exactly as under `construir run-once`, printing its console, and lands \
        in DONE/NAME; its result.json has source: {commit: HEAD, uncommitted_changes: true|false}. \
        Exit code as run-once: 0 passed, 1 failed, 2 timed_out, 3 error, 4 rejected, 5 no result \
        (interrupted), 64 bad usage, 70 construir could not package or run it. See docs/package.md.
        """)

    @Argument(help: "The git repository (its work tree, or a directory in it).") var repo = "."
    @Option(help: "The build image to run on.") var image = 0
    @Option(name: .customShort("e"), help: ArgumentHelp("Set a variable in the job's environment (repeatable).", valueName: "KEY=VALUE"))
    var env: [String] = []
    @Option(name: .customShort("p"), help: ArgumentHelp("Set a parameter the repository's construir.yml declares under params: (repeatable).", valueName: "NAME=VALUE"))
    var param: [String] = []
    @Option(help: ArgumentHelp("Room for the job's output (the job file's size), e.g. 64M. Default: the archive's size, at least 1M.", valueName: "SIZE"))
    var outputSize: String?
    @Flag(help: "Include submodules' files (at the commits the working tree records).") var recurseSubmodules = false
    @OptionGroup var options: RunOnceOptions

    package init() {}

    package func validate() throws {
        do {
            _ = try makeRequest(queue: "/nonexistent")
            _ = try options.runCommand(queue: "/nonexistent", state: "/nonexistent", defaultImage: image)
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ValidationError("\(error)")
        }
    }

    package func run() async throws {
        let image = self.image
        try await RunOnceCommand.runJob(command: "try", options: options, defaultImage: image) { queue, logger in
            let request = try makeRequest(queue: queue)
            let result = try await OwnThread.run("construir-package") {
                try JobPackager(logger: logger).package(request, progress: TerminalProgressBar())
            }
            let base = String(result.source.commit.prefix(JobPackager.shortHashLength))
            logger.info(result.source.uncommittedChanges ? "packaged the working tree: HEAD \(base) with uncommitted changes"
                                                         : "packaged the working tree: HEAD \(base), no uncommitted changes",
                        metadata: ["job": "\(result.jobName)", "commit": "\(result.commit)"])
            return (result.files[0] as NSString).lastPathComponent
        }
    }

    /// The package request for the working tree, written into `queue`.
    func makeRequest(queue: String) throws -> PackageRequest {
        guard image >= 0 else { throw ValidationError("--image: \(image) is not an image index (0, 1, ...)") }
        return PackageRequest(
            repository: repo, revision: "HEAD", images: [image], imagesDirectory: options.images,
            outputSize: try outputSize.map(Units.byteSize), destination: .directory(queue),
            environment: try env.map(EnvironmentVariable.init(parsing:)), parameters: try param.map(EnvironmentVariable.init(parsing:)),
            recurseSubmodules: recurseSubmodules, workingTree: true)
    }
}
