import ArgumentParser
import Foundation
import Runner

/// `construir logs JOB`
public struct LogsCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a job's console log (the VM's serial console).",
        discussion: """
        JOB is named as for `construir result`, or by its running ID; a running job is preferred. \
        With --follow, a running (or queued) job's log is printed as it grows until the job is \
        done. On a terminal, control characters from the guest are shown as '?'.
        """)

    @Argument(help: "The job.") var job: String
    @OptionGroup var location: QueueLocation
    @Flag(name: .shortAndLong, help: "Keep printing while the job runs, like tail -f; end when it is done.")
    var follow = false

    public init() {}

    public func run() async throws {
        let observer = location.observer()
        let toTerminal = isatty(STDOUT_FILENO) == 1
        var location = observer.locate(job, preferRunning: true)
        if follow, case .queued(let queued)? = location {
            FileHandle.standardError.write(Data("construir logs: \(queued.file) is queued (position \(queued.position)); waiting for a runner to claim it\n".utf8))
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(500))
                let now = observer.locate(job, preferRunning: true)
                if case .queued? = now { continue }
                location = now
                break
            }
        }
        switch location {
        case nil:
            throw fail("logs", "no job \(job) in \(observer.doneDirectory), running or queued")
        case .queued(let queued)?:
            throw fail("logs", "\(queued.file) is queued and has no console log yet (use --follow to wait for it)")
        case .done(let done)?:
            let path = "\(observer.doneDirectory)/\(done.directory)/console.log"
            guard let data = FileManager.default.contents(atPath: path) else {
                throw fail("logs", "\(done.directory) has no console log (status \(done.result.status.rawValue): its VM never started)")
            }
            TerminalText.write(ArraySlice(data), toTerminal: toTerminal)
        case .running(let running)?:
            let directory = "\(observer.runningDirectory)/\(running.id)"
            if follow {
                await ConsoleFollower.follow(directory: directory) { TerminalText.write($0, toTerminal: toTerminal) }
            } else if let data = FileManager.default.contents(atPath: "\(directory)/console.log") {
                TerminalText.write(ArraySlice(data), toTerminal: toTerminal)
            }
        }
    }
}
