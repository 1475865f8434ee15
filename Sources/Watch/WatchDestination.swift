import ConstruirSystem
import Foundation
import HubAPI
import HubClient
import JobModel

/// Where `watch` sends its jobs: a queue directory (with the done/ its runners publish to) or
/// a hub, and how it learns each job's end there.
package enum WatchDestination: Sendable {
    case queue(directory: String, done: String)
    case hub(HubClient)

    /// Moves job `file` from `outgoing` into the queue, or submits it to the hub. Called again
    /// after a restart for an intent it may already have carried out: a job file no longer in
    /// `outgoing` is in the queue (or on the hub) already. Returns the hub's id for it, if known.
    func send(_ file: String, from outgoing: String, knownID: String?) async throws -> String? {
        let source = "\(outgoing)/\(file)"
        switch self {
        case .queue(let directory, _):
            try await OwnThread.run("construir-watch-queue") {
                do throws(SystemError) {
                    try FileSystem.renameNoReplace(source, "\(directory)/\(file)")
                } catch {
                    guard error.errno == ENOENT || error.errno == EEXIST else { throw error }
                    // ENOENT: moved before a restart. EEXIST: the same job file (named after its
                    // commit) is in the queue already, put there by hand.
                    if error.errno == EEXIST { unlink(source) }
                }
                try FileSystem.fsync(path: directory)
            }
            return nil
        case .hub(let client):
            guard FileSystem.exists(source) else { return knownID }
            if let knownID { return knownID }
            if let found = try await Self.lookUp(file, on: client) { return found }
            do {
                let id = try await client.submit(file: source, as: file).id
                CrashPoint.reach("watch-submitted")
                return id
            } catch let error as HubClientError where error.status == 409 {
                return try await Self.lookUp(file, on: client)
            }
        }
    }

    /// The id of the caller's job named `file` on the hub, if it has one.
    static func lookUp(_ file: String, on client: HubClient) async throws -> String? {
        guard let name = JobName(fileName: file)?.name else { return nil }
        var cursor: String?
        repeat {
            let page = try await client.jobs(prefix: name, limit: 100, cursor: cursor)
            if let job = page.jobs.first(where: { $0.job == file }) { return job.id }
            cursor = page.next
        } while cursor != nil
        return nil
    }

    /// Where a queued job can be followed before it ends: its hub page; nil for a queue.
    func pendingLink(_ task: ReportTask) -> String? {
        guard case .hub(let client) = self, let id = task.hubID else { return nil }
        return "\(client.baseURL)/jobs/\(id)"
    }

    /// The job's final status and link once it is done; nil while it is not.
    func final(_ task: ReportTask) async throws -> ReportTask.Final? {
        switch self {
        case .queue(_, let done):
            return try await OwnThread.run("construir-watch-done") { Self.findInDone(task.job, done: done) }
        case .hub(let client):
            guard let id = task.hubID else { return nil }
            let detail = try await client.job(id)
            guard detail.job.state == .done else { return nil }
            let status = detail.result?.status.rawValue ?? detail.job.status?.rawValue ?? "error"
            return ReportTask.Final(status: status, link: "\(client.baseURL)/jobs/\(id)")
        }
    }

    /// done/NAME (or NAME.2, ... when a job of that name finished before) holding the result
    /// of job file `file`.
    static func findInDone(_ file: String, done: String) -> ReportTask.Final? {
        guard let name = JobName(fileName: file) else { return nil }
        for attempt in 1...1000 {
            let directory = attempt == 1 ? "\(done)/\(name.safeName)" : "\(done)/\(name.safeName).\(attempt)"
            guard FileSystem.isDirectory(directory) else { return nil }
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(JobFiles.result)"),
                  let result = try? JobResult.decode(data), result.job == file else { continue }
            return ReportTask.Final(status: result.status.rawValue, link: FileSystem.absolute(directory))
        }
        return nil
    }
}
