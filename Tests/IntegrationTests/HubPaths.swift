/// The hub's routes, for the tests that call it by hand (a hostile client, a wrong token); the
/// hub and its client get theirs from the API description.
enum HubPaths {
    static let prefix = "/api/v1"
    /// POST, runner: hands out the next job, or 204 when there is none.
    static let claim = "\(prefix)/claim"
    /// GET, runner: the long poll. Answers 200 as soon as a job waits, 204 after `?wait=` seconds.
    static let work = "\(prefix)/work"
    /// POST, submitter: a new job image as the body, `?name=NAME_iN.tar.xz`.
    static let jobs = "\(prefix)/jobs"
    /// GET, any token: runners, leases and the queue.
    static let status = "\(prefix)/status"
    /// GET, runner: the build images the hub serves (`[HubImage]`); 404 when it serves none.
    static let images = "\(prefix)/images"

    /// GET, runner holding the lease: the job image (Range supported).
    static func job(_ id: String) -> String { "\(prefix)/jobs/\(id)/job" }
    /// POST, runner holding the lease: keeps it.
    static func heartbeat(_ id: String) -> String { "\(prefix)/jobs/\(id)/heartbeat" }
    /// POST, runner holding the lease: gives the job back unfinished (no attempt counted).
    static func release(_ id: String) -> String { "\(prefix)/jobs/\(id)/release" }
    /// PUT, runner holding the lease: the console log, then the output archive, then POST the result.
    static func console(_ id: String) -> String { "\(prefix)/jobs/\(id)/console" }
    static func output(_ id: String) -> String { "\(prefix)/jobs/\(id)/output" }
    static func result(_ id: String) -> String { "\(prefix)/jobs/\(id)/result" }
    /// GET, runner: image N's image.json, and each file it lists (Range supported).
    static func imageManifest(_ index: Int) -> String { "\(prefix)/images/\(index)/image.json" }
    static func imageFile(_ index: Int, _ name: String) -> String { "\(prefix)/images/\(index)/files/\(name)" }
}
