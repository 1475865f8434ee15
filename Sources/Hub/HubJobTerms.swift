import Archive
import JobModel

/// What the hub decides for each job it takes in, from its options and the job's manifest.
///
/// - Replicas: the hub's `--replicas`, raised by the job's own `replicas:` (job/construir.yml)
///   up to `--max-replicas`. A job cannot ask for fewer than the hub's policy: the hub, not the
///   submitter, decides how far volunteers are trusted. When the results form no majority, the
///   hub adds replicas up to `--max-replicas` (`HubJob.verdict`).
/// - Lease limit: no hold lives longer than the job's timeout (its manifest's, else
///   `--job-timeout`) plus `--lease-margin` for the download and upload, whatever its
///   heartbeats say: a runner cannot keep a job from everyone else by heartbeating forever.
package struct HubJobTerms: Sendable, Equatable {
    package var replicas: Int
    package var maxReplicas: Int
    /// A job's timeout when its manifest names none: what a runner gives it by default.
    package var jobTimeout: Duration
    /// Added to the job's timeout for its lease limit; nil for no limit.
    package var leaseMargin: Duration?

    package init(replicas: Int = 1, maxReplicas: Int? = nil, jobTimeout: Duration = .seconds(30 * 60), leaseMargin: Duration? = nil) {
        self.replicas = max(replicas, 1)
        self.maxReplicas = max(maxReplicas ?? replicas, self.replicas)
        self.jobTimeout = jobTimeout
        self.leaseMargin = leaseMargin
    }

    /// The terms of the job file at `path`: its replicas, the most it may grow to, its lease
    /// limit and the tags its runners must have. A job whose manifest cannot be read gets the
    /// hub's numbers (its runners reject it). Blocking: decodes the job.
    package func of(job path: String) -> (replicas: Int, maxReplicas: Int, leaseLimit: Duration?, tags: [String]) {
        let manifest = (try? JobImageInspector.inspect(path).manifest).flatMap { try? JobManifest.parse($0) }
        let asked = min(max(manifest?.replicas ?? replicas, replicas), maxReplicas)
        return (asked, maxReplicas, leaseMargin.map { (manifest?.timeout ?? jobTimeout) + $0 }, manifest?.tags ?? [])
    }
}
