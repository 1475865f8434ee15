import ArgumentParser
import ConstruirSystem
import Foundation
import JobModel
import Logging
import Watch

/// `construir watch`: packages each new commit of the watched refs of a list of git
/// repositories, once, into a queue or a hub, and reports the jobs' states.
package struct WatchCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Poll git repositories and queue each new commit of their watched branches and tags once.",
        discussion: """
        FILE (YAML) lists the repositories: url, branches and tags (globs), images, file_exists and \
        directory_exists conditions, environment, and report (a forge's commit status, or a command). \
        Each poll asks with git ls-remote and fetches only refs that moved, into a mirror in the state \
        directory. A commit is queued at most once, after a restart too; a new repository gets only its \
        refs' newest commits. --status prints how each repository's polls go. See docs/watch.md.
        """)

    @Option(help: ArgumentHelp("The repos file (YAML).", valueName: "FILE")) var repos: String?
    @Option(help: ArgumentHelp("Put the jobs into this queue directory.", valueName: "DIR")) var queue: String?
    @Option(help: ArgumentHelp("The queue's done/ directory, where the jobs' results appear. Default: done beside the queue.", valueName: "DIR"))
    var done: String?
    /// `--hub`: submit the jobs to a hub instead.
    @OptionGroup var hubConnection: HubConnection
    @Option(help: ArgumentHelp("Time between two polls of a repository, e.g. 30s, 5m.", valueName: "DURATION")) var every = "5m"
    @Option(help: ArgumentHelp("The private state directory, on the queue's filesystem. Default: .construir-watch beside the queue (with --hub: in the current directory).", valueName: "DIR"))
    var state: String?
    @Option(help: "Directory holding the build images (N/image.json), to check images: against.") var images = "images"
    @Flag(help: "Poll each repository once, send the reports that are due, and exit (1 if a repository could not be polled).")
    var once = false
    @Flag(help: "Print how each repository's polls go, and exit.") var status = false
    @Flag(help: "Log debug details.") var verbose = false
    @Option(help: "Log format on standard error: text or json.") var logFormat: LogFormat = .text

    package init() {}

    package func validate() throws {
        if status { return }
        guard repos != nil else { throw ValidationError("give --repos FILE") }
        if (queue == nil) == (hubConnection.hub == nil) { throw ValidationError("give --queue DIR or --hub URL (with --token-file), one of them") }
        if done != nil, queue == nil { throw ValidationError("--done goes with --queue") }
        _ = try RunCommand.validated { try Units.duration(every) }
    }

    /// The state directory the options name.
    package var stateDirectory: String {
        if let state { return state }
        guard let queue else { return ".construir-watch" }
        return "\((FileSystem.absolute(queue) as NSString).deletingLastPathComponent)/.construir-watch"
    }

    package func run() async throws {
        if status {
            do { print(WatchStatus.text(try WatchStatus.states(in: stateDirectory)), terminator: "") } catch {
                throw fail("watch", "\(error)")
            }
            return
        }
        let logger = RunCommand.makeLogger(verbose: verbose, format: logFormat)
        let watcher: Watcher
        do {
            watcher = try makeWatcher(logger: logger)
        } catch {
            throw fail("watch", "\(error)")
        }
        var succeeded = true
        do {
            if once { succeeded = try await watcher.runOnce() } else { try await CommandServices.run(watcher, logger: logger) }
        } catch {
            if case .hub(let client) = watcher.destination { await client.shutdown() }
            throw fail("watch", "\(error)")
        }
        if case .hub(let client) = watcher.destination { await client.shutdown() }
        if !succeeded { throw ExitCode.failure }
    }

    /// The watcher the options describe (separate from `run` for tests).
    package func makeWatcher(logger: Logger) throws -> Watcher {
        guard let repos else { throw ConstruirError(.invalidArgument, "give --repos FILE") }
        let configuration = try WatchConfiguration.load(repos)
        let destination: WatchDestination
        if let client = try hubConnection.makeClient() {
            destination = .hub(client)
        } else if let queue {
            guard FileSystem.isDirectory(queue) else { throw ConstruirError(.notFound, "the queue \(queue) is not a directory") }
            let doneDirectory = done ?? "\((FileSystem.absolute(queue) as NSString).deletingLastPathComponent)/done"
            destination = .queue(directory: FileSystem.absolute(queue), done: FileSystem.absolute(doneDirectory))
        } else {
            throw ConstruirError(.invalidArgument, "give --queue DIR or --hub URL")
        }
        let settings = WatchSettings(stateDirectory: FileSystem.absolute(stateDirectory), imagesDirectory: images,
                                     every: try Units.duration(every))
        return Watcher(configuration: configuration, destination: destination, settings: settings, logger: logger)
    }
}
