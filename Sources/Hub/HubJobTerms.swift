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
/// - Secrets: a job that asks for a runner's secrets (`secrets:`) is refused unless the hub
///   allows them (`--allow-secrets`), and then unless it asks for an `owner:` tag, which only
///   the hub grants a runner's token: a volunteer's secrets go only to the jobs of whoever the
///   hub operator said that volunteer runs for, never to any submitter's.
package struct HubJobTerms: Sendable, Equatable {
    package var replicas: Int
    package var maxReplicas: Int
    /// A job's timeout when its manifest names none: what a runner gives it by default.
    package var jobTimeout: Duration
    /// Added to the job's timeout for its lease limit; nil for no limit.
    package var leaseMargin: Duration?
    /// `--allow-secrets`: jobs may ask for secrets, with an `owner:` tag.
    package var allowSecrets = false

    package init(replicas: Int = 1, maxReplicas: Int? = nil, jobTimeout: Duration = .seconds(30 * 60), leaseMargin: Duration? = nil,
                 allowSecrets: Bool = false) {
        self.replicas = max(replicas, 1)
        self.maxReplicas = max(maxReplicas ?? replicas, self.replicas)
        self.jobTimeout = jobTimeout
        self.leaseMargin = leaseMargin
        self.allowSecrets = allowSecrets
    }

    /// The manifest of the job file at `path`, nil when it has none or cannot be read. Reads only
    /// as far as the manifest (a packaged job has it first), not the whole job as the inspection
    /// at intake did: the hub asks for it again with each replica's output. Blocking.
    package static func manifest(ofJob path: String) -> JobManifest? {
        switch JobManifestPeek.read(path, budget: JobImageLimits().maxUnpackedBytes) {
        case .manifest(let manifest): return manifest
        case .none: return nil
        case .unknown: return (try? JobImageInspector.inspect(path).manifest).flatMap { try? JobManifest.parse($0) }
        }
    }

    /// Why the hub refuses a job with this manifest, or nil.
    package func refusal(of manifest: JobManifest?) -> String? {
        guard let manifest, !manifest.secrets.isEmpty else { return nil }
        guard allowSecrets else {
            return "the job asks for secrets (secrets: in job/construir.yml), and this hub takes no such jobs (hub serve --allow-secrets)"
        }
        guard manifest.tags.contains(where: { $0.hasPrefix(JobTags.ownerPrefix) }) else {
            return "the job asks for secrets, so it must also ask for an \(JobTags.ownerPrefix) tag (tags: in job/construir.yml), "
                + "which only the hub grants a runner (hub token add NAME --role runner --tag \(JobTags.ownerPrefix)NAME): "
                + "a runner's secrets go only to the jobs of those it runs for"
        }
        return nil
    }

    /// The terms of the job file at `path`: its replicas, the most it may grow to, its lease
    /// limit and the tags its runners must have. A job whose manifest cannot be read gets the
    /// hub's numbers (its runners reject it). `refusal`: why the hub must not hand it out.
    /// Blocking: decodes the job.
    package func of(job path: String) -> (replicas: Int, maxReplicas: Int, leaseLimit: Duration?, tags: [String], refusal: String?) {
        let manifest = Self.manifest(ofJob: path)
        let asked = min(max(manifest?.replicas ?? replicas, replicas), maxReplicas)
        return (asked, maxReplicas, leaseMargin.map { (manifest?.timeout ?? jobTimeout) + $0 }, manifest?.tags ?? [], refusal(of: manifest))
    }
}
