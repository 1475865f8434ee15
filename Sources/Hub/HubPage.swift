import Foundation
import HubAPI
import JobModel

/// The hub's read-only web page and Prometheus metrics: runners, leases, the queue.
enum HubPage {
    static func html(_ status: HubStatus, now: Date = Date()) -> String {
        let escape = HTMLText.escape
        func ago(_ date: Date?) -> String {
            guard let date else { return "never" }
            return "\(Int(now.timeIntervalSince(date).rounded())) s ago"
        }
        var page = """
        <!doctype html><html><head><meta charset="utf-8"><title>construir hub</title>
        <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}</style>
        </head><body><h1>construir hub</h1>
        <p>\(status.queued) queued, \(status.leases.count) leased, \(status.finished) finished since the hub started.</p>
        <h2>Runners</h2><table><tr><th>name</th><th>last seen</th><th>running</th><th>jobs done</th><th>agreed</th><th>disputed</th><th>errors</th></tr>
        """
        for runner in status.runners {
            page += "<tr><td>\(escape(runner.name))</td><td>\(ago(runner.lastSeen))</td><td>\(escape(runner.running.joined(separator: ", ")))</td><td>\(runner.jobsDone)</td><td>\(runner.reputation.agreed)</td><td>\(runner.reputation.disputed)</td><td>\(runner.reputation.errors)</td></tr>"
        }
        page += "</table><h2>Leases</h2><table><tr><th>job</th><th>runner</th><th>attempt</th><th>replicas in</th><th>expires</th></tr>"
        for lease in status.leases {
            let expires = lease.expires.map { "in \(Int($0.timeIntervalSince(now).rounded())) s" } ?? "waiting for a runner"
            page += "<tr><td>\(escape(lease.job))</td><td>\(escape(lease.holder ?? "-"))</td><td>\(lease.attempt)</td><td>\(lease.results) of \(lease.replicas)</td><td>\(expires)</td></tr>"
        }
        return page + "</table></body></html>\n"
    }

    static func metrics(_ status: HubStatus, waiting: Int, now: Date = Date()) -> String {
        func label(_ text: String) -> String {
            text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
        }
        var lines = [
            "# HELP construir_hub_queued_jobs Job files waiting in the hub's queue.",
            "# TYPE construir_hub_queued_jobs gauge",
            "construir_hub_queued_jobs \(status.queued)",
            "# HELP construir_hub_leases Leases, held by a runner or waiting for the next one.",
            "# TYPE construir_hub_leases gauge",
            "construir_hub_leases{state=\"held\"} \(status.leases.filter { $0.holder != nil }.count)",
            "construir_hub_leases{state=\"waiting\"} \(status.leases.filter { $0.holder == nil }.count)",
            "# HELP construir_hub_finished_jobs_total Jobs written to done/ since the hub started.",
            "# TYPE construir_hub_finished_jobs_total counter",
            "construir_hub_finished_jobs_total \(status.finished)",
            "# HELP construir_hub_waiting_polls Long polls waiting for work now.",
            "# TYPE construir_hub_waiting_polls gauge",
            "construir_hub_waiting_polls \(waiting)",
            "# HELP construir_hub_runners Runners seen since the hub started or with a record (reputation).",
            "# TYPE construir_hub_runners gauge",
            "construir_hub_runners \(status.runners.count)",
            "# HELP construir_hub_runner_jobs_done_total Results a runner delivered since the hub started.",
            "# TYPE construir_hub_runner_jobs_done_total counter",
        ]
        for runner in status.runners {
            lines.append("construir_hub_runner_jobs_done_total{runner=\"\(label(runner.name))\"} \(runner.jobsDone)")
        }
        lines.append("# HELP construir_hub_runner_results_total A runner's results over the hub's life: replicated jobs it agreed on, jobs whose replicas disagreed while it took part, holds it failed.")
        lines.append("# TYPE construir_hub_runner_results_total counter")
        for runner in status.runners {
            for (outcome, count) in [("agreed", runner.reputation.agreed), ("disputed", runner.reputation.disputed), ("error", runner.reputation.errors)] {
                lines.append("construir_hub_runner_results_total{runner=\"\(label(runner.name))\",outcome=\"\(outcome)\"} \(count)")
            }
        }
        lines.append("# HELP construir_hub_runner_last_seen_seconds Seconds since the runner's last call.")
        lines.append("# TYPE construir_hub_runner_last_seen_seconds gauge")
        for runner in status.runners {
            let seconds = runner.lastSeen.map { now.timeIntervalSince($0) } ?? -1
            lines.append("construir_hub_runner_last_seen_seconds{runner=\"\(label(runner.name))\"} \(String(format: "%.3f", seconds))")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
