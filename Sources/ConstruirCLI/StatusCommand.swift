import ArgumentParser
import ConstruirSystem
import Foundation
import HubAPI
import HubClient

/// `construir status`
package struct StatusCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show queued jobs in pickup order, running jobs, and recently finished jobs.",
        discussion: """
        Reads the queue, running/ and done/ directories only: it works whether or not a runner is up. \
        With --hub it shows a hub's runners and leases instead, and, for a submitter token, its jobs \
        there: queued, running and the most recent finished ones.
        """)

    @OptionGroup var location: QueueLocation
    /// `--hub`: a hub's runners and leases instead of a local queue.
    @OptionGroup var hubConnection: HubConnection
    @Option(help: "How many finished jobs to show (most recent first).") var limit = 20
    @Flag(help: "Print the snapshot as JSON (the same document as the web server's /api/status).") var json = false

    package init() {}

    package func validate() throws {
        guard limit >= 0 else { throw ValidationError("--limit must not be negative") }
    }

    package func run() async throws {
        if let client = try hubConnection.makeClient() {
            let status: HubStatus
            var mine: [HubJobSummary]?
            do {
                status = try await client.status()
                // A submitter's own jobs; a runner token reads none (403), and shows the hub alone.
                mine = try? await client.jobs(limit: max(limit, 1)).jobs
            } catch {
                await client.shutdown()
                throw fail("status", "\(error)")
            }
            await client.shutdown()
            if json {
                print(String(decoding: try HubJSON.encode(status), as: UTF8.self))
            } else {
                print(Self.render(status) + (mine.map { Self.render(jobs: $0) } ?? ""), terminator: "")
            }
            return
        }
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

    /// A submitter's jobs on a hub, as `status` shows a local queue's: queued, running, finished.
    static func render(jobs: [HubJobSummary], now: Date = Date()) -> String {
        var text = "\nYOUR JOBS\n"
        for (title, state) in [("queued", HubJobState.queued), ("running", .running), ("finished", .done)] {
            let some = jobs.filter { $0.state == state }
            text += "  \(title): \(some.count)\n"
            for job in some {
                let age = Int(now.timeIntervalSince(job.finished ?? job.queued).rounded())
                let status = job.status.map { " \($0.rawValue)" } ?? (job.stopping == true ? " stopping" : "")
                text += "    \(job.job)\(status)  \(job.runners.isEmpty ? "" : "on \(job.runners.joined(separator: ","))  ")\(age) s ago\n"
            }
        }
        return text
    }

    /// A hub's status as text: the queue, each runner, each lease.
    static func render(_ status: HubStatus, now: Date = Date()) -> String {
        var text = "hub: \(status.queued) queued, \(status.leases.count) leased, \(status.finished) finished since it started\n\nRUNNERS\n"
        for runner in status.runners {
            let seen = runner.lastSeen.map { "\(Int(now.timeIntervalSince($0).rounded())) s ago" } ?? "never"
            text += "  \(runner.name)  last seen \(seen)  running \(runner.running.isEmpty ? "-" : runner.running.joined(separator: ","))  done \(runner.jobsDone)"
                + "  agreed \(runner.reputation.agreed) disputed \(runner.reputation.disputed) errors \(runner.reputation.errors)"
                + " in a row \(runner.reputation.agreedInARow ?? 0) today \(runner.reputation.holdsToday ?? 0)/\(runner.reputation.quota.map(String.init) ?? "-")\n"
        }
        if let unservable = status.unservable, !unservable.isEmpty {
            text += "\nNO RUNNER SEEN IN THE LAST HOUR HAS THE TAGS THESE JOBS ASK FOR\n"
            for job in unservable { text += "  \(job.job)  tags \(job.tags.joined(separator: ","))\n" }
        }
        text += "\nLEASES\n"
        for lease in status.leases {
            let expires = lease.expires.map { "expires in \(Int($0.timeIntervalSince(now).rounded())) s" } ?? "waiting for a runner"
            let replicas = lease.replicas > 1 ? "  replicas \(lease.results)/\(lease.replicas) in" : ""
            text += "  \(lease.job)  \(lease.holder ?? "-")  attempt \(lease.attempt)\(replicas)  \(expires)\n"
        }
        return text
    }
}
