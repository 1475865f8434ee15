import Archive
import ArgumentParser
import ConstruirSystem
import Foundation
import HubAPI
import HubClient
import JobModel

/// `result`, `logs` and `kill` with `--hub`: for a job on a hub, what they print for a local
/// queue, with the same exit codes. A job is named by its name, its file name (the most recent
/// one) or its id on the hub.
enum HubJobCommands {
    /// The caller's job `name`, or exit 70 when it has none.
    static func find(_ name: String, _ client: HubClient, command: String) async throws -> HubJobSummary {
        var cursor: String?
        repeat {
            let page = try await client.jobs(prefix: name, limit: 200, cursor: cursor)
            if let job = page.jobs.first(where: { $0.job == name || $0.name == name }) { return job }
            cursor = page.next
        } while cursor != nil
        if let job = try? await client.job(name) { return job.job }
        throw fail(command, "no job \(name) on the hub \(client.baseURL)")
    }

    /// The result.json of a done job, as the runner's type.
    static func result(of detail: HubJobDetail, command: String) throws -> JobResult {
        guard let document = detail.result else { throw fail(command, "\(detail.job.job) is done, but its result is not in the hub's done/ (yet)") }
        return try HubJSON.recode(document, as: JobResult.self)
    }

    static func printResult(_ name: String, _ client: HubClient, json: Bool, extract: String?) async throws {
        let summary = try await find(name, client, command: "result")
        switch summary.state {
        case .queued:
            print("\(summary.job): queued")
            throw ExitCode(JobExitCode.noResult)
        case .running:
            print("\(summary.job): running\(summary.stopping == true ? ", stopping" : "") (runner \(summary.runners.joined(separator: ", ")))")
            throw ExitCode(JobExitCode.noResult)
        case .done:
            break
        }
        let result = try Self.result(of: try await client.job(summary.id), command: "result")
        if json {
            FileHandle.standardOutput.write(try result.encoded())
        } else {
            print(StatusText.result(result, directory: "\(client.baseURL) done/\(summary.location ?? "?")"), terminator: "")
            let scratch = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            if (try? await client.downloadOutput(summary.id, path: "job_output.txt", to: "\(scratch)/job_output.txt")) != nil,
               let output = FileManager.default.contents(atPath: "\(scratch)/job_output.txt") {
                print("--- output/job_output.txt ---")
                TerminalText.write(ArraySlice(output), toTerminal: isatty(STDOUT_FILENO) == 1)
                if output.last != UInt8(ascii: "\n") { print() }
            }
        }
        if let extract {
            let target = FileSystem.absolute(extract)
            guard !FileSystem.exists(target) else { throw fail("result", "--extract: \(target) already exists") }
            let scratch = try scratchDirectory()
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            do {
                try await client.downloadOutput(summary.id, to: "\(scratch)/\(JobFiles.outputArchive)")
                _ = try await OwnThread.run("construir-extract") { try OutputExtractor.extract(disk: "\(scratch)/\(JobFiles.outputArchive)", to: target) }
            } catch {
                throw fail("result", "cannot extract the job's output into \(target): \(error)")
            }
            FileHandle.standardError.write(Data("construir result: output extracted to \(target)\n".utf8))
        }
        throw ExitCode(JobExitCode.code(for: result.status))
    }

    static func printLogs(_ name: String, _ client: HubClient, follow: Bool, stage: String?) async throws {
        let summary = try await find(name, client, command: "logs")
        let toTerminal = isatty(STDOUT_FILENO) == 1
        if let stage {
            guard summary.state == .done else { throw fail("logs", "\(summary.job) is \(summary.state.rawValue): its stages' lines come with its result") }
            let console = try await client.console(summary.id).bytes
            let result = try Self.result(of: try await client.job(summary.id), command: "logs")
            TerminalText.write(try LogsCommand.lines(of: stage, in: [UInt8](console), stages: result.stages, job: summary.job), toTerminal: toTerminal)
            return
        }
        if !follow {
            guard summary.state != .queued else { throw fail("logs", "\(summary.job) is queued and has no console log yet (use --follow to wait for it)") }
            TerminalText.write(ArraySlice(try await client.console(summary.id).bytes), toTerminal: toTerminal)
            return
        }
        if summary.state == .queued {
            FileHandle.standardError.write(Data("construir logs: \(summary.job) is queued; waiting for a runner to take it\n".utf8))
        }
        try await Self.follow(summary.id, client) { TerminalText.write(ArraySlice($0), toTerminal: toTerminal) }
    }

    /// Prints job `id`'s console as it grows, until the job is done and every byte is out.
    static func follow(_ id: String, _ client: HubClient, _ write: (Data) -> Void) async throws {
        var offset: Int64 = 0
        while !Task.isCancelled {
            let part = try await client.console(id, from: offset, wait: 30)
            if !part.bytes.isEmpty {
                write(part.bytes)
                offset += Int64(part.bytes.count)
            } else if part.state == .done {
                return
            }
        }
    }

    static func kill(_ name: String, _ client: HubClient, wait: Duration) async throws {
        let summary = try await find(name, client, command: "kill")
        if summary.state == .done {
            print("\(summary.job): already done, \(summary.status?.rawValue ?? "?"), \(client.baseURL) done/\(summary.location ?? "?"); nothing to kill")
            throw ExitCode(KillCommand.exitCode(summary.status.flatMap { JobResult.Status(rawValue: $0.rawValue) } ?? .error))
        }
        var now = try await client.stop(summary.id)
        let deadline = ContinuousClock.now + wait
        while now.state != .done {
            guard ContinuousClock.now < deadline else {
                FileHandle.standardError.write(Data("construir kill: \(summary.job): asked its runner to stop it; not ended after \(wait) (a runner that never answers loses its lease, and the job then ends killed)\n".utf8))
                throw ExitCode(JobExitCode.noResult)
            }
            try await Task.sleep(for: .milliseconds(500))
            now = try await client.job(summary.id).job
        }
        let status = now.status.flatMap { JobResult.Status(rawValue: $0.rawValue) } ?? .error
        print("\(summary.job): \(status.rawValue), \(client.baseURL) done/\(now.location ?? "?")")
        if status != .killed { throw ExitCode(KillCommand.exitCode(status)) }
    }

    /// A private directory for a download, removed by the caller.
    static func scratchDirectory() throws -> String {
        let scratch = "\(PrivateDirectory.runtimeBase())/hub-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try PrivateDirectory.make(scratch)
        return scratch
    }
}
