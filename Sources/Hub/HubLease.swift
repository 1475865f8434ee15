import Foundation
import JobModel

/// `LEASES/ID/lease.json`: a job the hub took from its queue, who runs it now, and what the
/// runners that finished it reported.
///
/// A job needs `replicas` results from different runners (1 unless the hub replicates). Each
/// runner running it has a `Hold` until `expires`; heartbeats move `expires` on. A hold that
/// runs out, or ends in `error`, counts as a failure and its place goes to the next runner
/// that asks (before any queued job: it has waited longest). After `maxAttempts` failures the
/// hub ends the job in error.
public struct HubLease: Codable, Sendable, Equatable {
    /// One runner's part: it holds the job until `expires`.
    public struct Hold: Codable, Sendable, Equatable {
        /// The runner token's name.
        public var holder: String
        /// Numbers the hold's uploads (`.output.upload.SERIAL`): never reused within a job, so an
        /// upload still streaming from a runner whose hold ran out never becomes another's.
        public var serial: Int
        /// 1 + the failures before this hold: what `result.json` calls the attempt.
        public var attempt: Int
        public var claimed: Date
        public var expires: Date
        /// Set once its result is being taken in: from then on it neither expires nor takes
        /// another result. A hub that stops halfway finds it set at start (`HubLeases.recover`).
        public var finishing: Bool?
    }

    /// What one runner reported, once its output was taken in.
    public struct Replica: Codable, Sendable, Equatable {
        public var runner: String
        public var serial: Int
        public var attempt: Int
        public var status: JobResult.Status
        public var exitCode: Int?
        /// `OutputDigest` of its output archive; nil when it sent none.
        public var outputDigest: String?

        public init(runner: String, serial: Int, attempt: Int, status: JobResult.Status, exitCode: Int?, outputDigest: String?) {
            self.runner = runner
            self.serial = serial
            self.attempt = attempt
            self.status = status
            self.exitCode = exitCode
            self.outputDigest = outputDigest
        }

        /// Whether two runners reported the same thing: status, exit code and output digest.
        public func agrees(with other: Replica) -> Bool {
            status == other.status && exitCode == other.exitCode && outputDigest == other.outputDigest
        }
    }

    /// The lease directory's name; also the job's id in the API.
    public var id: String
    /// The job's file name in the queue (`NAME_iN.tar.xz`).
    public var job: String
    /// When the job file arrived in the queue (its mtime).
    public var queued: Date
    /// The job file's sha256 and size, which a runner checks its download against.
    public var sha256: String
    public var size: Int64
    /// How many runners must report the same result.
    public var replicas: Int
    /// Holds handed out so far (the last serial).
    public var handedOut: Int
    /// Holds that ran out or ended in error, and why the last one did.
    public var failures: Int
    public var lastFailure: String?
    public var holds: [Hold]
    public var results: [Replica]
    /// Set while the job as a whole is finished (its replicas compared, or ended in error).
    public var finishing: Bool?

    public init(id: String, job: String, queued: Date, sha256: String, size: Int64, replicas: Int = 1) {
        self.id = id
        self.job = job
        self.queued = queued
        self.sha256 = sha256
        self.size = size
        self.replicas = replicas
        handedOut = 0
        failures = 0
        holds = []
        results = []
    }

    /// `holder`'s live hold at `now`.
    public func hold(of holder: String, at now: Date) -> Hold? {
        holds.first { $0.holder == holder && $0.finishing != true && $0.expires > now }
    }

    /// Whether `holder` may take a replica now: the job wants another runner, and `holder`
    /// neither runs it nor reported a result for it (replicas come from different runners).
    func wantsRunner(_ holder: String, maxAttempts: Int) -> Bool {
        finishing != true && failures < maxAttempts && holds.count + results.count < replicas
            && !holds.contains { $0.holder == holder } && !results.contains { $0.runner == holder }
    }

    /// Whether every replica's result is in.
    public var isComplete: Bool { results.count >= replicas }

    public func encoded() throws -> Data {
        try JobResult.jsonEncoder().encode(self)
    }

    public static func decode(_ data: Data) throws -> HubLease {
        try JobResult.jsonDecoder().decode(HubLease.self, from: data)
    }
}
