import JobModel
import Prometheus

/// The `/metrics` text (Prometheus exposition format), computed from a snapshot of the
/// directories at each scrape: done/ is the record of what happened, so the numbers are the same
/// whichever process serves them and survive restarts.
package enum StatusMetrics {
    /// Upper bounds, in seconds, of the job duration histogram: from a KVM boot to the 30 min timeout.
    package static let durationBuckets: [Double] = [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600]

    package static func render(_ snapshot: QueueSnapshot) -> String {
        let registry = PrometheusCollectorRegistry()
        let statuses = JobResult.Status.all
        var counts: [JobResult.Status: Int] = [:]
        let histogram = registry.makeValueHistogram(
            descriptor: descriptor("job_duration", unit: "seconds",
                                   help: "Total time of finished jobs in done/, from claim to result (result.json durations.total)."),
            buckets: durationBuckets)
        for job in snapshot.done {
            counts[job.result.status, default: 0] += 1
            histogram.record(job.result.durations.total)
        }
        for status in statuses {
            registry.makeCounter(
                descriptor: descriptor("jobs_finished", unit: "total", help: "Jobs in done/, by the status in their result.json."),
                labels: [("status", status.rawValue)]
            ).increment(by: Int64(counts[status, default: 0]))
        }
        var stageCounts: [StageResult.Status: Int] = [:]
        for job in snapshot.done {
            for stage in job.result.stages ?? [] { stageCounts[stage.status, default: 0] += 1 }
        }
        for status in [StageResult.Status.passed, .failed, .skipped, .interrupted] {
            registry.makeCounter(
                descriptor: descriptor("stages_finished", unit: "total", help: "Stages of the jobs in done/ (job/construir.yml stages:), by status."),
                labels: [("status", status.rawValue)]
            ).increment(by: Int64(stageCounts[status, default: 0]))
        }
        registry.makeGauge(descriptor: descriptor("queue_length", help: "Job files waiting in the queue."))
            .set(Double(snapshot.queued.count))
        registry.makeGauge(descriptor: descriptor("jobs_running", help: "Jobs claimed by a runner and not yet in done/."))
            .set(Double(snapshot.running.count))
        registry.makeGauge(descriptor: descriptor("jobs_unpublished", help: "Finished jobs that done/ did not take (full, failing): in running/, retried by their runner."))
            .set(Double(snapshot.running.filter { $0.unpublished != nil }.count))
        registry.makeGauge(descriptor: descriptor("jobs_paused", help: "Running jobs whose VM is paused by its runner (a busy machine, on battery, outside its hours)."))
            .set(Double(snapshot.running.filter { $0.paused != nil }.count))
        for kind in PauseReason.Kind.allCases {
            registry.makeGauge(descriptor: descriptor("runners_paused", help: "Live runners holding back now, by reason (busy, battery, hours)."),
                               labels: [("reason", kind.rawValue)])
                .set(Double(snapshot.pausedRunners.filter { $0.reasons.contains { $0.kind == kind } }.count))
        }
        let warm = snapshot.warmVMs.flatMap(\.vms)
        for state in [RunnerWarmVMs.VM.State.booting, .ready] {
            registry.makeGauge(descriptor: descriptor("warm_vms", help: "VMs booted ahead of their jobs (run --warm), by state: booting, or ready for a job."),
                               labels: [("state", state.rawValue)])
                .set(Double(warm.count { $0.state == state }))
        }
        registry.makeCounter(descriptor: descriptor("jobs_warm", unit: "total", help: "Jobs in done/ that ran on a warm VM (no boot while they waited)."))
            .increment(by: Int64(snapshot.done.count { $0.result.warm != nil }))
        let oldest = snapshot.queued.map { snapshot.taken.timeIntervalSince($0.queued) }.max() ?? 0
        registry.makeGauge(descriptor: descriptor("queue_oldest", unit: "seconds", help: "Age of the oldest job waiting in the queue (0 when empty)."))
            .set(max(0, oldest))
        return registry.emitToString()
    }

    private static func descriptor(_ name: String, unit: String = "", help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "construir", metricName: name, unitName: unit, helpText: help)
    }
}
