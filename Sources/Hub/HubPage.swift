import ConstruirSystem
import Foundation
import HubAPI
import JobModel
import Prometheus

/// The hub's read-only web page and Prometheus metrics: runners, leases, the queue.
enum HubPage {
    static func html(_ status: HubStatus, now: Date = Date()) -> String {
        let escape = MarkupText.escape
        func ago(_ date: Date?) -> String {
            guard let date else { return "never" }
            return "\(Int(now.timeIntervalSince(date).rounded())) s ago"
        }
        var page = """
        <!doctype html><html><head><meta charset="utf-8"><title>construir hub</title>
        <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:left}</style>
        </head><body><h1>construir hub</h1><p><a href="/jobs">jobs</a></p>
        <p>\(status.queued) queued, \(status.leases.count) leased, \(status.finished) finished since the hub started.</p>
        <h2>Runners</h2><table><tr><th>name</th><th>last seen</th><th>running</th><th>jobs done</th><th>agreed</th><th>disputed</th><th>errors</th><th>agreed in a row</th><th>holds today / quota</th></tr>
        """
        for runner in status.runners {
            page += "<tr><td>\(escape(runner.name))</td><td>\(ago(runner.lastSeen))</td><td>\(escape(runner.running.joined(separator: ", ")))</td><td>\(runner.jobsDone)</td><td>\(runner.reputation.agreed)</td><td>\(runner.reputation.disputed)</td><td>\(runner.reputation.errors)</td><td>\(runner.reputation.agreedInARow ?? 0)</td><td>\(runner.reputation.holdsToday ?? 0) / \(runner.reputation.quota.map(String.init) ?? "-")</td></tr>"
        }
        page += "</table><h2>Leases</h2><table><tr><th>job</th><th>runner</th><th>attempt</th><th>replicas in</th><th>expires</th></tr>"
        for lease in status.leases {
            let expires = lease.expires.map { "in \(Int($0.timeIntervalSince(now).rounded())) s" } ?? "waiting for a runner"
            page += "<tr><td>\(escape(lease.job))</td><td>\(escape(lease.holder ?? "-"))</td><td>\(lease.attempt)</td><td>\(lease.results) of \(lease.replicas)</td><td>\(expires)</td></tr>"
        }
        return page + "</table></body></html>\n"
    }

    /// The `/metrics` text (Prometheus exposition format), from one status read at the scrape.
    static func metrics(_ status: HubStatus, waiting: Int, now: Date = Date()) -> String {
        let registry = PrometheusCollectorRegistry()
        registry.makeGauge(descriptor: descriptor("queued_jobs", help: "Job files waiting in the hub's queue."))
            .set(Double(status.queued))
        let held = status.leases.count { $0.holder != nil }
        for (state, count) in [("held", held), ("waiting", status.leases.count - held)] {
            registry.makeGauge(descriptor: descriptor("leases", help: "Leases, held by a runner or waiting for the next one."),
                               labels: [("state", state)])
                .set(Double(count))
        }
        registry.makeCounter(descriptor: descriptor("finished_jobs", unit: "total", help: "Jobs written to done/ since the hub started."))
            .increment(by: Int64(status.finished))
        registry.makeGauge(descriptor: descriptor("waiting_polls", help: "Long polls waiting for work now."))
            .set(Double(waiting))
        registry.makeGauge(descriptor: descriptor("runners", help: "Runners seen since the hub started or with a record (reputation)."))
            .set(Double(status.runners.count))
        for runner in status.runners {
            let name = ("runner", runner.name)
            registry.makeCounter(descriptor: descriptor("runner_jobs_done", unit: "total",
                                                        help: "Results a runner delivered since the hub started."),
                                 labels: [name])
                .increment(by: Int64(runner.jobsDone))
            for (outcome, count) in [("agreed", runner.reputation.agreed), ("disputed", runner.reputation.disputed), ("error", runner.reputation.errors)] {
                registry.makeCounter(descriptor: descriptor("runner_results", unit: "total",
                                                            help: "A runner's results over the hub's life: replicated jobs it agreed on, jobs whose replicas disagreed while it took part, holds it failed."),
                                     labels: [name, ("outcome", outcome)])
                    .increment(by: Int64(count))
            }
            registry.makeGauge(descriptor: descriptor("runner_agreed_in_a_row", help: "A runner's replicated results in a row that agreed (--adaptive trusts it at K)."),
                               labels: [name])
                .set(Double(runner.reputation.agreedInARow ?? 0))
            registry.makeGauge(descriptor: descriptor("runner_daily_quota", help: "Holds a runner may take this UTC day: --daily-quota, halved by its failures."),
                               labels: [name])
                .set(Double(runner.reputation.quota ?? 0))
            registry.makeGauge(descriptor: descriptor("runner_holds_today", help: "Holds a runner took this UTC day."), labels: [name])
                .set(Double(runner.reputation.holdsToday ?? 0))
            // -1 for a runner not seen since the hub started; to the millisecond, as a log has it.
            let seconds = runner.lastSeen.map { (now.timeIntervalSince($0) * 1000).rounded() / 1000 } ?? -1
            registry.makeGauge(descriptor: descriptor("runner_last_seen", unit: "seconds", help: "Seconds since the runner's last call."),
                               labels: [name])
                .set(seconds)
        }
        return registry.emitToString()
    }

    private static func descriptor(_ name: String, unit: String = "", help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "construir", subsystem: "hub", metricName: name, unitName: unit, helpText: help)
    }
}
