import Archive
import JobModel

/// How many runners a job goes to: the hub's `--replicas`, raised by the job's own
/// `replicas:` (job/construir.yml) up to `--max-replicas`. A job cannot ask for fewer than the
/// hub's policy: the hub, not the submitter, decides how far volunteers are trusted.
package struct HubReplication: Sendable, Equatable {
    package var replicas: Int
    package var maxReplicas: Int

    package init(replicas: Int = 1, maxReplicas: Int? = nil) {
        self.replicas = max(replicas, 1)
        self.maxReplicas = max(maxReplicas ?? replicas, self.replicas)
    }

    /// The replicas for the job file at `path`. Reads its manifest only when a job could ask for
    /// more; a job whose manifest cannot be read gets the hub's number (its runners reject it).
    /// Blocking: decodes the job.
    package func replicas(forJob path: String) -> Int {
        guard maxReplicas > replicas,
              let bytes = try? JobImageInspector.inspect(path).manifest,
              let asked = try? JobManifest.parse(bytes).replicas else { return replicas }
        return min(max(asked, replicas), maxReplicas)
    }
}
