import ArgumentParser
import ConstruirSystem

/// `construir status`
public struct StatusCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show queued jobs in pickup order, running jobs, and recently finished jobs.",
        discussion: "Reads the queue, running/ and done/ directories only: it works whether or not a runner is up.")

    @OptionGroup var location: QueueLocation
    @Option(help: "How many finished jobs to show (most recent first).") var limit = 20
    @Flag(help: "Print the snapshot as JSON (the same document as the web server's /api/status).") var json = false

    public init() {}

    public func validate() throws {
        guard limit >= 0 else { throw ValidationError("--limit must not be negative") }
    }

    public func run() throws {
        let observer = location.observer()
        guard FileSystem.isDirectory(observer.queueDirectory) || FileSystem.isDirectory(observer.doneDirectory) else {
            throw fail("status", "neither \(observer.queueDirectory) nor \(observer.doneDirectory) exists (see --queue, --done)")
        }
        let snapshot = observer.snapshot(doneLimit: limit)
        if json {
            do {
                print(String(decoding: try snapshot.encoded(), as: UTF8.self))
            } catch {
                throw fail("status", "cannot encode the status: \(error)")
            }
        } else {
            print(StatusText.render(snapshot), terminator: "")
        }
    }
}
