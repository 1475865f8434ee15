import ConstruirSystem
import Foundation
import HubAPI
import HubOpenAPI
import HubStore
import JobModel
import OpenAPIRuntime
import ServiceLifecycle

/// The submitter's side: listing and reading jobs, their consoles and outputs. A reader is a
/// submitter token, which sees its own jobs only, or (`--results public`) anyone. A job the
/// caller may not read is answered as one that does not exist.
extension HubOperations {
    func listJobs(_ input: Operations.ListJobs.Input) async throws -> Operations.ListJobs.Output {
        let reader = HubCaller.token
        var query = HubJobQuery(limit: input.query.limit ?? 50)
        guard (1...200).contains(query.limit) else { throw HubHTTPError(.badRequest, "limit: 1 to 200") }
        query.states = input.query.state.map { state in
            switch state {
            case .queued: [.queued]
            case .running: [.held, .finishing]
            case .done: [.done]
            }
        }
        query.status = input.query.status.flatMap { JobResult.Status(rawValue: $0.rawValue) }
        query.namePrefix = input.query.prefix.flatMap { $0.isEmpty ? nil : $0 }
        query.submitter = input.query.submitter
        if !configuration.publicResults, let reader {
            if let asked = query.submitter, asked != reader.name {
                return .ok(.init(body: .json(.init(jobs: []))))
            }
            query.submitter = reader.name
        }
        query.after = try input.query.cursor.map(HubJobCursor.read)
        let jobs = try await coordinator.store.list(query)
        let next = jobs.count == query.limit ? jobs.last.map { HubJobCursor.make(.init($0)) } : nil
        return .ok(.init(body: .json(.init(jobs: jobs.map(HubJobSummary.init), next: next))))
    }

    func getJob(_ input: Operations.GetJob.Input) async throws -> Operations.GetJob.Output {
        let job = try await readable(input.path.id)
        var result: Components.Schemas.JobResult?
        if let directory = doneDirectory(of: job) {
            result = try await FileWork.run {
                try JobPublisher.readResult("\(directory)/\(JobFiles.result)").map { try HubJSON.recode($0, as: Components.Schemas.JobResult.self) }
            }
        }
        return .ok(.init(body: .json(.init(job: HubJobSummary(job), result: result))))
    }

    func readConsole(_ input: Operations.ReadConsole.Input) async throws -> Operations.ReadConsole.Output {
        var job = try await readable(input.path.id)
        if let directory = doneDirectory(of: job), try await FileWork.run({ !FileSystem.isDirectory(directory) }) {
            throw Self.removed
        }
        let offset = input.query.offset ?? 0
        guard offset >= 0 else { throw HubHTTPError(.badRequest, "offset: 0 or more") }
        let limit = min(max(input.query.wait ?? 0, 0), configuration.longPollLimit.seconds)
        let deadline = ContinuousClock.now + .milliseconds(Int64(limit * 1000))
        let waiters = self.waiters
        while true {
            let candidates = consolePaths(of: job)
            let (path, size) = try await FileWork.run { () -> (String?, Int64) in
                for path in candidates { if let size = try? FileSystem.size(of: path) { return (path, size) } }
                return (nil, 0)
            }
            // No file: the console is between places (a hold's live copy, the finished job's
            // directory, done/); wait for it rather than refuse the offset.
            guard offset <= size || path == nil else {
                return .rangeNotSatisfiable(.init(body: .json(.init(error: "offset \(offset) is past the console's \(size) bytes"))))
            }
            let state = HubJobSummary(job).state
            if offset < size || state == .done || ContinuousClock.now >= deadline || Task.isCancelled || waiters.isClosed {
                let body: HTTPBody
                if let path, offset < size {
                    let file = try await PooledFile(path: path, writing: false)
                    body = HTTPBody(file.chunks(from: offset, to: size).map { ArraySlice($0.readableBytesView) }, length: .known(size - offset),
                                    iterationBehavior: .single)
                } else {
                    body = HTTPBody()
                }
                return .ok(.init(headers: .init(construirConsoleSize: size, construirJobState: state), body: .plainText(body)))
            }
            try? await Task.sleep(for: .milliseconds(250))
            job = try await readable(input.path.id)
        }
    }

    func downloadOutput(_ input: Operations.DownloadOutput.Input) async throws -> Operations.DownloadOutput.Output {
        let job = try await readable(input.path.id)
        guard let directory = doneDirectory(of: job) else { throw HubHTTPError(.notFound, "the job has no output yet") }
        let path: String
        if let inside = input.query.path {
            let relative = try Self.outputPath(inside)
            path = try await FileWork.run { () throws -> String in
                guard let file = Self.regularFile(under: "\(directory)/\(JobFiles.output)", relative) else {
                    throw HubHTTPError(.notFound, "the job's output has no file \(inside)")
                }
                return file
            }
        } else {
            path = "\(directory)/\(JobFiles.outputArchive)"
            guard try await FileWork.run({ FileSystem.exists(path) }) else { throw HubHTTPError(.notFound, "the job has no output archive") }
        }
        switch try await HubFileResponse.make(path: path, range: input.headers.range) {
        case .whole(let body): return .ok(.init(headers: .init(acceptRanges: .bytes), body: .binary(body)))
        case .part(let body, let range): return .partialContent(.init(headers: .init(acceptRanges: .bytes, contentRange: range), body: .binary(body)))
        case .unsatisfiable(let range): return .rangeNotSatisfiable(.init(headers: .init(contentRange: range)))
        }
    }

    func stopJob(_ input: Operations.StopJob.Input) async throws -> Operations.StopJob.Output {
        let submitter = try HubCaller.current()
        let job = try await readable(input.path.id)
        // Public results open reading, never stopping: only the job's own submitter stops it.
        guard job.submitter == submitter.name else { throw HubHTTPError(.notFound, "no such job") }
        guard let stopped = try await coordinator.stop(job.id) else {
            return .conflict(.init(body: .json(.init(error: "the job had ended already"))))
        }
        logger.notice("job stopped by its submitter", metadata: ["job": "\(job.job)", "submitter": "\(submitter.name)"])
        return .ok(.init(body: .json(HubJobSummary(stopped))))
    }

    static let removed = HubHTTPError(.notFound, "the hub removed this job's files (--keep-done, --keep-days); its record stays")

    // MARK: Who reads what

    /// Job `id`, if the caller may read it: anyone's with public results, else only the
    /// caller's own. Any other is 404, so that ids of others' jobs cannot be probed.
    func readable(_ id: String) async throws -> HubJob {
        let missing = HubHTTPError(.notFound, "no such job")
        guard SafeName.isSafe(id), !id.hasPrefix(".") else { throw missing }
        guard let job = try await coordinator.store.job(id) else { throw missing }
        if !configuration.publicResults {
            guard let reader = HubCaller.token, job.submitter == reader.name else { throw missing }
        }
        return job
    }

    /// A done job's directory in done/, once it is there.
    func doneDirectory(of job: HubJob) -> String? {
        guard job.state == .done, let location = job.location, !location.isEmpty, SafeName.isSafe(location) else { return nil }
        return "\(coordinator.intake.publisher.done.directory)/\(location)"
    }

    /// Where the job's console may be now: done/'s copy once it is published there; while it
    /// runs, what its runners appended, the earliest hold's first; while it is finished, the
    /// copy laid out in the hub's directory.
    private func consolePaths(of job: HubJob) -> [String] {
        if let directory = doneDirectory(of: job) { return ["\(directory)/\(JobFiles.consoleLog)"] }
        let own = blobs.path(job.id)
        return job.holds.sorted { $0.serial < $1.serial }.map { "\(own)/\(HubResultIntake.consoleLive(serial: $0.serial))" }
            + ["\(own)/\(JobFiles.consoleLog)"]
    }

    /// `path` as components inside output/, or 400 for one that would leave it.
    static func outputPath(_ path: String) throws -> [String] {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard !path.hasPrefix("/"), !parts.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." && !$0.contains("\0") }) else {
            throw HubHTTPError(.badRequest, "path: a file's path inside output/, without `..`, `.`, empty parts or a leading /")
        }
        return parts
    }

    /// The regular file at `components` under `root`, reached without following a symbolic
    /// link at any step; nil if there is none.
    static func regularFile(under root: String, _ components: [String]) -> String? {
        var path = root
        for (index, component) in components.enumerated() {
            path += "/\(component)"
            var st = stat()
            guard lstat(path, &st) == 0 else { return nil }
            let type = st.st_mode & S_IFMT
            if index == components.count - 1 { return type == S_IFREG ? path : nil }
            guard type == S_IFDIR else { return nil }
        }
        return nil
    }
}
