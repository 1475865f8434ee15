import ArgumentParser
import Foundation
import JobModel
import Runner

/// `construir logs JOB`
package struct LogsCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print a job's console log (the VM's serial console).",
        discussion: """
        JOB is named as for `construir result`, or by its running ID; a running job is preferred. \
        With --follow, a running (or queued) job's log is printed as it grows until the job is \
        done. On a terminal, control characters from the guest are shown as '?'. With --hub, JOB is \
        one of your jobs on the hub.
        """)

    @Argument(help: "The job.") var job: String
    @OptionGroup var location: QueueLocation
    @Flag(name: .shortAndLong, help: "Keep printing while the job runs, like tail -f; end when it is done.")
    var follow = false
    @Option(help: ArgumentHelp("Print only this stage's lines (a job with stages: in job/construir.yml).", valueName: "NAME"))
    var stage: String?
    /// `--hub`: one of the caller's jobs on a hub.
    @OptionGroup var hubConnection: HubConnection

    package func validate() throws {
        if stage != nil, follow { throw ValidationError("--stage prints a stage's lines as they are now; it does not go with --follow") }
    }

    package init() {}

    /// The console lines of stage `name`, or why there are none.
    static func lines(of name: String, in console: [UInt8], stages: [StageResult]?, job: String) throws -> ArraySlice<UInt8> {
        guard let stages else { throw fail("logs", "\(job) has no stages") }
        guard let stage = stages.first(where: { $0.name == name }) else {
            throw fail("logs", "\(job) has no stage \(name) (its stages: \(stages.map(\.name).joined(separator: ", ")))")
        }
        guard let range = stage.console, range.offset >= 0, range.length >= 0, range.offset + range.length <= Int64(console.count) else {
            throw fail("logs", "stage \(name) of \(job) has no lines in the console log (\(stage.status.rawValue))")
        }
        return console[Int(range.offset)..<Int(range.offset + range.length)]
    }

    package func run() async throws {
        let (job, follow, stage) = (self.job, self.follow, self.stage)
        if try await hubConnection.run("logs", { try await HubJobCommands.printLogs(job, $0, follow: follow, stage: stage) }) { return }
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
            let path = "\(observer.doneDirectory)/\(done.directory)/\(JobFiles.consoleLog)"
            guard let data = FileManager.default.contents(atPath: path) else {
                throw fail("logs", "\(done.directory) has no console log (status \(done.result.status.rawValue): its VM never started)")
            }
            if let stage {
                TerminalText.write(try Self.lines(of: stage, in: [UInt8](data), stages: done.result.stages, job: done.directory), toTerminal: toTerminal)
                return
            }
            TerminalText.write(ArraySlice(data), toTerminal: toTerminal)
        case .running(let running)?:
            let directory = "\(observer.runningDirectory)/\(running.id)"
            if follow {
                await ConsoleFollower.follow(directory: directory) { TerminalText.write($0, toTerminal: toTerminal) }
            } else if let data = FileManager.default.contents(atPath: "\(directory)/\(JobFiles.consoleLog)") {
                if let stage {
                    let markers = (try? Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(StageMarkers.fileName)")))
                        .flatMap { try? JSONDecoder().decode(StageMarkers.self, from: $0) }
                    let bytes = [UInt8](data)
                    TerminalText.write(try Self.lines(of: stage, in: bytes, stages: markers?.results(console: bytes), job: running.file),
                                       toTerminal: toTerminal)
                    return
                }
                TerminalText.write(ArraySlice(data), toTerminal: toTerminal)
            }
        }
    }
}
