import ArgumentParser
import ConstruirSystem
import Foundation
import JobModel

/// `construir result JOB`
package struct ResultCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "result",
        abstract: "Show a finished job's status, exit code and output/job_output.txt.",
        discussion: """
        JOB is a directory in done/ (hello, hello.2), or a job's file name or name (the most recent \
        one). Exits with the job's status: 0 passed, 1 failed, 2 timed_out, 3 error, 4 rejected, \
        5 not finished yet, 70 no such job. With --hub, JOB is one of your jobs on the hub.
        """)

    @Argument(help: "The job.") var job: String
    @OptionGroup var location: QueueLocation
    @Option(help: ArgumentHelp("Copy the job's output/ directory to DIR (which must not exist yet).", valueName: "DIR"))
    var extract: String?
    @Flag(help: "Print result.json as it is.") var json = false
    /// `--hub`: one of the caller's jobs on a hub.
    @OptionGroup var hubConnection: HubConnection

    package init() {}

    package func run() async throws {
        let (job, json, extract) = (self.job, self.json, self.extract)
        if try await hubConnection.run("result", { try await HubJobCommands.printResult(job, $0, json: json, extract: extract) }) { return }
        let observer = location.observer()
        switch observer.locate(job) {
        case nil:
            throw fail("result", "no job \(job) in \(observer.doneDirectory), running or queued")
        case .queued(let queued)?:
            print("\(queued.file): queued, position \(queued.position)")
            throw ExitCode(JobExitCode.noResult)
        case .running(let running)?:
            print("\(running.file): running for \(StatusText.duration(running.elapsed))")
            throw ExitCode(JobExitCode.noResult)
        case .done(let done)?:
            let directory = "\(observer.doneDirectory)/\(done.directory)"
            if json {
                let path = "\(directory)/\(JobFiles.result)"
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw fail("result", "cannot read \(path)")
                }
                FileHandle.standardOutput.write(data)
            } else {
                print(StatusText.result(done, directory: directory), terminator: "")
                if let output = FileManager.default.contents(atPath: "\(directory)/\(JobFiles.output)/job_output.txt") {
                    print("--- output/job_output.txt ---")
                    TerminalText.write(ArraySlice(output), toTerminal: isatty(STDOUT_FILENO) == 1)
                    if output.last != UInt8(ascii: "\n") { print() }
                }
            }
            if let extract {
                let target = FileSystem.absolute(extract)
                guard !FileSystem.exists(target) else { throw fail("result", "--extract: \(target) already exists") }
                do {
                    try FileManager.default.copyItem(atPath: "\(directory)/\(JobFiles.output)", toPath: target)
                } catch {
                    throw fail("result", "cannot copy \(directory)/output to \(target): \(error.localizedDescription)")
                }
                FileHandle.standardError.write(Data("construir result: output copied to \(target)\n".utf8))
            }
            throw ExitCode(JobExitCode.code(for: done.result.status))
        }
    }
}
