/// The hub's API routes (docs/hub.md). Every call carries `Authorization: Bearer TOKEN`.
public enum HubPaths {
    public static let prefix = "/api/v1"
    /// POST, runner: hands out the next job, or 204 when there is none.
    public static let claim = "\(prefix)/claim"
    /// GET, runner: the long poll. Answers 200 as soon as a job waits, 204 after `?wait=` seconds.
    public static let work = "\(prefix)/work"
    /// POST, submitter: a new job image as the body, `?name=NAME_iN.tar.xz`.
    public static let jobs = "\(prefix)/jobs"
    /// GET, any token: runners, leases and the queue.
    public static let status = "\(prefix)/status"
    /// GET, runner: the build images the hub serves (`[HubImage]`); 404 when it serves none.
    public static let images = "\(prefix)/images"

    /// GET, runner holding the lease: the job image (Range supported).
    public static func job(_ id: String) -> String { "\(prefix)/jobs/\(id)/job" }
    /// POST, runner holding the lease: keeps it.
    public static func heartbeat(_ id: String) -> String { "\(prefix)/jobs/\(id)/heartbeat" }
    /// POST, runner holding the lease: gives the job back unfinished (no attempt counted).
    public static func release(_ id: String) -> String { "\(prefix)/jobs/\(id)/release" }
    /// PUT, runner holding the lease: the console log, then the output archive, then POST the result.
    public static func console(_ id: String) -> String { "\(prefix)/jobs/\(id)/console" }
    public static func output(_ id: String) -> String { "\(prefix)/jobs/\(id)/output" }
    public static func result(_ id: String) -> String { "\(prefix)/jobs/\(id)/result" }
    /// GET, runner: image N's image.json, and each file it lists (Range supported).
    public static func imageManifest(_ index: Int) -> String { "\(prefix)/images/\(index)/image.json" }
    public static func imageFile(_ index: Int, _ name: String) -> String { "\(prefix)/images/\(index)/files/\(name)" }
}
