import ArgumentParser
import ConstruirSystem
import Foundation
import JobModel
import Runner

/// The directories `status`, `result`, `logs` and `serve` read (the same defaults as `run`).
struct QueueLocation: ParsableArguments {
    @Option(help: "The queue directory.") var queue = "queue"
    @Option(help: "The directory of finished jobs.") var done = "done"
    @Option(help: "The runner's state directory. Default: QUEUE/.construir") var state: String?
    @Option(help: "Image for jobs whose name has no _iN.") var defaultImage = 0

    func observer() -> QueueObserver {
        QueueObserver(queueDirectory: queue, doneDirectory: done, stateDirectory: state, defaultImage: defaultImage)
    }
}

/// The exit codes of `run-once` and `result`, derived from the job's status so scripts can
/// branch on them (docs/observability.md).
public enum JobExitCode {
    public static func code(for status: JobResult.Status) -> Int32 {
        switch status {
        case .passed: 0
        case .failed: 1
        case .timedOut: 2
        case .error: 3
        case .rejected: 4
        }
    }

    /// The job has no result (yet): it is queued or running, or run-once was interrupted.
    public static let noResult: Int32 = 5
    /// construir itself could not do what was asked (no such job, cannot start, ...).
    public static let construirFailed: Int32 = 70
}

/// Reports an error on standard error and exits with `JobExitCode.construirFailed`.
func fail(_ command: String, _ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("construir \(command): error: \(message)\n".utf8))
    return ExitCode(JobExitCode.construirFailed)
}

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

/// `construir result JOB`
public struct ResultCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "result",
        abstract: "Show a finished job's status, exit code and output/job_output.txt.",
        discussion: """
        JOB is a directory in done/ (hello, hello.2), or a job's file name or name (the most recent \
        one). Exits with the job's status: 0 passed, 1 failed, 2 timed_out, 3 error, 4 rejected, \
        5 not finished yet, 70 no such job.
        """)

    @Argument(help: "The job.") var job: String
    @OptionGroup var location: QueueLocation
    @Option(help: ArgumentHelp("Copy the job's output/ directory to DIR (which must not exist yet).", valueName: "DIR"))
    var extract: String?
    @Flag(help: "Print result.json as it is.") var json = false

    public init() {}

    public func run() throws {
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
                guard let data = FileManager.default.contents(atPath: "\(directory)/result.json") else {
                    throw fail("result", "cannot read \(directory)/result.json")
                }
                FileHandle.standardOutput.write(data)
            } else {
                print(StatusText.result(done, directory: directory), terminator: "")
                if let output = FileManager.default.contents(atPath: "\(directory)/output/job_output.txt") {
                    print("--- output/job_output.txt ---")
                    TerminalText.write(ArraySlice(output), toTerminal: isatty(STDOUT_FILENO) == 1)
                    if output.last != UInt8(ascii: "\n") { print() }
                }
            }
            if let extract {
                let target = FileSystem.absolute(extract)
                guard !FileSystem.exists(target) else { throw fail("result", "--extract: \(target) already exists") }
                do {
                    try FileManager.default.copyItem(atPath: "\(directory)/output", toPath: target)
                } catch {
                    throw fail("result", "cannot copy \(directory)/output to \(target): \(error.localizedDescription)")
                }
                FileHandle.standardError.write(Data("construir result: output copied to \(target)\n".utf8))
            }
            throw ExitCode(JobExitCode.code(for: done.result.status))
        }
    }
}

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

/// Guest console output is written by an untrusted job: on a terminal, its control characters
/// (escape sequences could retitle, recolour or rewrite the user's terminal) become '?'.
enum TerminalText {
    static func write(_ bytes: ArraySlice<UInt8>, toTerminal: Bool) {
        let data = toTerminal ? Data(sanitize(bytes)) : Data(bytes)
        FileHandle.standardOutput.write(data)
    }

    static func sanitize(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var previous: UInt8 = 0
        for byte in bytes {
            switch byte {
            case 0x0A, 0x09: out.append(byte)
            case 0x0D: break  // the serial console ends lines with \r\n
            case 0x00..<0x20, 0x7F: out.append(UInt8(ascii: "?"))
            case 0x80...0x9F where previous == 0xC2:
                out[out.count - 1] = UInt8(ascii: "?")  // a C1 control character, U+0080...U+009F
                previous = 0
                continue
            default: out.append(byte)
            }
            previous = byte
        }
        return out
    }
}

/// The plain-text forms of `status` and `result`.
enum StatusText {
    static func render(_ snapshot: QueueSnapshot) -> String {
        var out = "queue \(snapshot.queueDirectory): \(snapshot.queued.count) waiting\n"
        out += table(snapshot.queued.map {
            ["\($0.position)", $0.file, "image \($0.image)", "waiting \(duration(snapshot.taken.timeIntervalSince($0.queued)))"]
        })
        let unpublished = snapshot.running.filter { $0.unpublished != nil }.count
        out += "running: \(snapshot.running.count)" + (unpublished == 0 ? "" : ", \(unpublished) finished but not in done/ yet (retried)") + "\n"
        out += table(snapshot.running.map {
            [$0.file, "image \($0.image)", $0.slot.map { "slot \($0)" } ?? "slot -", "elapsed \(duration($0.elapsed))",
             [$0.runner, $0.host, $0.pid.map { "pid \($0)" }].compactMap { $0 }.joined(separator: " ")]
                + ($0.unpublished.map { ["unpublished (attempts failed: \($0.failures), next \(timestamp($0.nextAttempt))): \($0.error)"] } ?? [])
        })
        let shown = snapshot.done.count < snapshot.doneTotal ? ", the \(snapshot.done.count) most recent" : ""
        out += "done \(snapshot.doneDirectory): \(snapshot.doneTotal)\(shown)\n"
        out += table(snapshot.done.map {
            [$0.directory, $0.result.status.rawValue, $0.result.exitCode.map { "exit \($0)" } ?? "exit -",
             duration($0.result.durations.total), timestamp($0.result.timestamps.finished)]
        })
        return out
    }

    static func result(_ done: QueueSnapshot.Done, directory: String) -> String {
        let result = done.result
        var rows: [(String, String)] = [
            ("job", "\(result.job) (\(directory))"),
            ("status", result.status.rawValue),
            ("exit code", result.exitCode.map(String.init) ?? "-"),
        ]
        if let error = result.error { rows.append(("error", error)) }
        rows.append(("image", result.image.map { "\($0.index)" } ?? "-"))
        rows.append(("finished", timestamp(result.timestamps.finished)))
        rows.append(("duration", duration(result.durations.total)))
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(separator: "\n") + "\n"
    }

    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { row in
            "  " + row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    static func duration(_ seconds: Double) -> String { QueueSnapshot.formatDuration(seconds) }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
