import ConstruirSystem
import Foundation

/// Everything a person asks "what is the runner doing?" about, read from the queue, running/
/// and done/ directories alone: it needs no runner process and changes nothing on disk.
package struct QueueSnapshot: Codable, Sendable, Equatable {
    /// A job file waiting in the queue.
    package struct Queued: Codable, Sendable, Equatable {
        /// Its place in pickup order, from 1.
        package var position: Int
        package var file: String
        package var name: String
        package var image: Int
        package var queued: Date
        package var size: Int64

        package init(position: Int, file: String, name: String, image: Int, queued: Date, size: Int64) {
            self.position = position
            self.file = file
            self.name = name
            self.image = image
            self.queued = queued
            self.size = size
        }
    }

    /// A claimed job whose VM may be running now.
    package struct Running: Codable, Sendable, Equatable {
        /// The running directory's name.
        package var id: String
        package var file: String
        package var name: String
        package var image: Int
        package var slot: Int?
        package var runner: String?
        package var host: String?
        package var pid: Int?
        package var attempt: Int?
        package var claimed: Date
        /// Seconds since `claimed` when the snapshot was taken.
        package var elapsed: Double
        /// False when the claim is known only from `source-name` and the directory's mtime.
        package var fromClaimRecord: Bool
        /// Set when the job has finished but done/ did not take it (`running/ID/unpublished.json`):
        /// why, and when its runner tries again.
        package var unpublished: PublishFailure?
        /// Why its VM is paused now (its runner's `RunnerPause`), nil while it runs.
        package var paused: String?

        package init(id: String, file: String, name: String, image: Int, slot: Int?, runner: String?, host: String?, pid: Int?,
                    attempt: Int?, claimed: Date, elapsed: Double, fromClaimRecord: Bool, unpublished: PublishFailure? = nil,
                    paused: String? = nil) {
            self.id = id
            self.file = file
            self.name = name
            self.image = image
            self.slot = slot
            self.runner = runner
            self.host = host
            self.pid = pid
            self.attempt = attempt
            self.claimed = claimed
            self.elapsed = elapsed
            self.fromClaimRecord = fromClaimRecord
            self.unpublished = unpublished
            self.paused = paused
        }

        enum CodingKeys: String, CodingKey {
            case id, file, name, image, slot, runner, host, pid, attempt, claimed, elapsed, unpublished, paused
            case fromClaimRecord = "from_claim_record"
        }
    }

    /// A job in done/: its directory name there and its result.
    package struct Done: Codable, Sendable, Equatable {
        /// The directory's name in done/ (`NAME` or `NAME.2`, ...).
        package var directory: String
        package var result: JobResult

        package init(directory: String, result: JobResult) {
            self.directory = directory
            self.result = result
        }
    }

    package var taken: Date
    package var queueDirectory: String
    package var doneDirectory: String
    package var queued: [Queued]
    package var running: [Running]
    /// The live runners holding back now (a busy machine, on battery, outside their hours), and why.
    package var pausedRunners: [RunnerPause] = []
    /// The VMs live runners keep booted ahead of their jobs (`run --warm`), by runner.
    package var warmVMs: [RunnerWarmVMs] = []

    /// Every warm VM with the runner that keeps it, runner by runner.
    package var everyWarmVM: [(runner: String, vm: RunnerWarmVMs.VM)] {
        warmVMs.flatMap { record in record.vms.map { (record.runner, $0) } }
    }
    /// Most recently finished first.
    package var done: [Done]
    /// How many jobs done/ holds in all (`done` may be only the most recent).
    package var doneTotal: Int

    package init(taken: Date, queueDirectory: String, doneDirectory: String, queued: [Queued], running: [Running], done: [Done],
                doneTotal: Int) {
        self.taken = taken
        self.queueDirectory = queueDirectory
        self.doneDirectory = doneDirectory
        self.queued = queued
        self.running = running
        self.done = done
        self.doneTotal = doneTotal
    }

    enum CodingKeys: String, CodingKey {
        case taken, queued, running, done
        case pausedRunners = "paused_runners"
        case warmVMs = "warm_vms"
        case queueDirectory = "queue_directory"
        case doneDirectory = "done_directory"
        case doneTotal = "done_total"
    }

    /// A duration for people: `12.3s`, `4m05s`, `2h03m`.
    package static func formatDuration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "-" }
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let whole = Int(seconds)
        if whole < 3600 { return "\(whole / 60)m\(String(format: "%02d", whole % 60))s" }
        return "\(whole / 3600)h\(String(format: "%02d", whole % 3600 / 60))m"
    }

    /// JSON in the same conventions as result.json (snake_case keys, ISO 8601 dates).
    package func encoded() throws -> Data {
        try JobResult.jsonEncoder().encode(self)
    }
}
