import ConstruirSystem
import Foundation

/// What happened to a job: written as `result.json` beside its output, the record users and
/// tools read instead of digging through logs.
package struct JobResult: Codable, Sendable, Equatable {
    package enum Status: String, Codable, Sendable {
        /// The job script exited 0 and its output was collected.
        case passed
        /// The job script exited non-zero.
        case failed
        /// The VM was destroyed at the timeout.
        case timedOut = "timed_out"
        /// The job could not be run or its output could not be collected.
        case error
        /// The submitted file was refused before booting anything.
        case rejected
        /// A hub ran the job on several runners and their results differ: nothing in it can be
        /// trusted, and every runner's output is kept under `replicas/RUNNER/`.
        case disputed
        /// Every stage passed but one allowed to fail (`allow_failure` in job/construir.yml), which failed.
        case passedWithFailures = "passed_with_failures"
        /// Stopped by `construir kill`: before it booted, or its VM destroyed while it ran.
        case killed

        /// In the order status lists and metrics show them.
        package static let all: [Status] = [.passed, .passedWithFailures, .failed, .timedOut, .error, .rejected, .disputed, .killed]
    }

    /// How a hub's replicas of the job compared (`hub serve --replicas`).
    package struct Quorum: Codable, Sendable, Equatable {
        package enum State: String, Codable, Sendable {
            /// Every runner, or a strict majority of them (`dissenters` names the others),
            /// reported the same status, exit code and output digest.
            case agreed
            /// No majority formed, even with the replicas the hub added (`--max-replicas`).
            case disputed
            /// One runner ran it alone, trusted for its record (`hub serve --adaptive`).
            case trusted
        }

        /// What one runner reported.
        package struct Replica: Codable, Sendable, Equatable {
            package var runnerID: String
            package var status: Status
            package var exitCode: Int?
            package var outputDigest: String?
            package var attempt: Int

            enum CodingKeys: String, CodingKey {
                case status, attempt
                case runnerID = "runner_id"
                case exitCode = "exit_code"
                case outputDigest = "output_digest"
            }

            package init(runnerID: String, status: Status, exitCode: Int?, outputDigest: String?, attempt: Int) {
                self.runnerID = runnerID
                self.status = status
                self.exitCode = exitCode
                self.outputDigest = outputDigest
                self.attempt = attempt
            }
        }

        package var state: State
        package var replicas: [Replica]
        /// Agreed by a majority: the runners outvoted.
        package var dissenters: [String]?
        /// Disputed: the compared paths whose content or kind differ between the replicas
        /// (at most `maxDiffering`), and how many there were.
        package var differing: [String]?
        package var differingCount: Int?
        /// Trusted: how many replicated results in a row the runner had agreed on.
        package var agreedInARow: Int?

        package static let maxDiffering = 100

        enum CodingKeys: String, CodingKey {
            case state, replicas, dissenters, differing
            case differingCount = "differing_count"
            case agreedInARow = "agreed_in_a_row"
        }

        package init(state: State, replicas: [Replica], dissenters: [String]? = nil, differing: [String]? = nil,
                     differingCount: Int? = nil, agreedInARow: Int? = nil) {
            self.state = state
            self.replicas = replicas
            self.dissenters = dissenters
            self.differing = differing
            self.differingCount = differingCount
            self.agreedInARow = agreedInARow
        }
    }

    /// Which output paths the hub compared the replicas on (`compare:` in job/construir.yml).
    package struct Comparison: Codable, Sendable, Equatable {
        package var patterns: [String]
        /// The compared paths and the ones left out, each list at most `maxListed` long; the
        /// counts are whole.
        package var compared: [String]
        package var comparedCount: Int
        package var leftOut: [String]
        package var leftOutCount: Int

        package static let maxListed = 1000

        enum CodingKeys: String, CodingKey {
            case patterns, compared
            case comparedCount = "compared_count"
            case leftOut = "left_out"
            case leftOutCount = "left_out_count"
        }

        package init(patterns: [String], compared: [String], leftOut: [String]) {
            self.patterns = patterns
            self.compared = Array(compared.prefix(Self.maxListed))
            comparedCount = compared.count
            self.leftOut = Array(leftOut.prefix(Self.maxListed))
            leftOutCount = leftOut.count
        }
    }

    package struct Image: Codable, Sendable, Equatable {
        package var index: Int
        package var sha256: String?

        package init(index: Int, sha256: String?) {
            self.index = index
            self.sha256 = sha256
        }
    }

    package struct Timestamps: Codable, Sendable, Equatable {
        package var queued: Date
        package var started: Date
        package var finished: Date

        package init(queued: Date, started: Date, finished: Date) {
            self.queued = queued
            self.started = started
            self.finished = finished
        }
    }

    /// Seconds. `boot` and `run` are measured by the guest (uptime at job start, and script
    /// duration); `vm` is the host's wall time from creating the domain to its stop.
    package struct Durations: Codable, Sendable, Equatable {
        package var wait: Double
        /// Reading the job image through before booting (the input checks).
        package var inspect: Double?
        package var vmStart: Double?
        package var boot: Double?
        package var run: Double?
        package var vm: Double?
        /// The part of `vm` spent destroying a VM the runner stopped (timeout, a limit): the
        /// rest is how long the guest ran, so `vm - destroy` shows how late a timeout fired.
        package var destroy: Double?
        package var collect: Double?
        /// The part of `vm` the VM spent paused by the runner (a busy machine, on battery,
        /// outside the compute hours); it does not count towards the timeout.
        package var paused: Double?
        package var total: Double

        package init(wait: Double, inspect: Double? = nil, vmStart: Double? = nil, boot: Double? = nil, run: Double? = nil,
                    vm: Double? = nil, collect: Double? = nil, total: Double) {
            self.wait = wait
            self.inspect = inspect
            self.vmStart = vmStart
            self.boot = boot
            self.run = run
            self.vm = vm
            self.collect = collect
            self.total = total
        }

        enum CodingKeys: String, CodingKey {
            case wait, inspect, boot, run, vm, destroy, collect, paused, total
            case vmStart = "vm_start"
        }
    }

    /// Bytes (and entries) of what went in and came out.
    package struct Sizes: Codable, Sendable, Equatable {
        package var job: Int64
        package var outputDisk: Int64?
        package var outputArchive: Int64?
        package var outputFiles: Int64?
        package var outputEntries: Int?
        package var consoleLog: Int64?

        package init(job: Int64, outputDisk: Int64? = nil, outputArchive: Int64? = nil, outputFiles: Int64? = nil,
                    outputEntries: Int? = nil, consoleLog: Int64? = nil) {
            self.job = job
            self.outputDisk = outputDisk
            self.outputArchive = outputArchive
            self.outputFiles = outputFiles
            self.outputEntries = outputEntries
            self.consoleLog = consoleLog
        }

        enum CodingKeys: String, CodingKey {
            case job
            case outputDisk = "output_disk"
            case outputArchive = "output_archive"
            case outputFiles = "output_files"
            case outputEntries = "output_entries"
            case consoleLog = "console_log"
        }
    }

    /// The limits this job ran under: the runner's defaults with the job manifest's requests
    /// applied (bytes and seconds).
    package struct Limits: Codable, Sendable, Equatable {
        package var timeout: Double
        package var memoryMiB: Int
        package var cpus: Int
        package var acceleration: String
        package var outputSize: Int64?
        package var consoleLog: Int64?

        package init(timeout: Double, memoryMiB: Int, cpus: Int, acceleration: String, outputSize: Int64? = nil, consoleLog: Int64? = nil) {
            self.timeout = timeout
            self.memoryMiB = memoryMiB
            self.cpus = cpus
            self.acceleration = acceleration
            self.outputSize = outputSize
            self.consoleLog = consoleLog
        }

        enum CodingKeys: String, CodingKey {
            case timeout, cpus, acceleration
            case memoryMiB = "memory_mib"
            case outputSize = "output_size"
            case consoleLog = "console_log"
        }
    }

    package var job: String
    package var name: String
    package var status: Status
    package var exitCode: Int?
    package var error: String?
    package var image: Image?
    package var timestamps: Timestamps
    package var durations: Durations
    package var sizes: Sizes
    package var limits: Limits?
    package var runner: String
    /// Which attempt produced this result: above 1 when earlier runners died running the job.
    package var attempt: Int?
    /// The identity (`HOST.N`) of the runner that ran the job.
    package var runnerID: String?
    /// The output's canonical digest (see `OutputDigest`), where a hub took the output in.
    package var outputDigest: String?
    /// The hub's submitter token that sent the job; nil for a job dropped into a queue.
    package var submitter: String?
    /// Where a hub ran the job on several runners: whether they agreed, and what each reported.
    package var quorum: Quorum?
    /// Where a hub took the output in: which of its paths replicas are compared on.
    package var comparison: Comparison?
    /// A job with `stages:` in its manifest: what each stage did, in the order they ran.
    package var stages: [StageResult]?
    /// A packaged job: the commit it was made from, and whether uncommitted changes were part
    /// of it (`construir try`), as its job/source.json says (`PackagedSource`).
    package var source: PackagedSource?
    /// A job handed to a VM booted before it (`run --warm`): which one, and how long it had waited.
    package var warm: WarmStart?
    /// A job that asked for secrets: their names (never their values), and how many times a
    /// value was replaced by `[secret NAME]` in its console log and job_output.txt.
    package var secrets: SecretsUse?

    /// The secrets a job was given.
    package struct SecretsUse: Codable, Sendable, Equatable {
        package var names: [String]
        package var redacted: Int

        package init(names: [String], redacted: Int) {
            self.names = names
            self.redacted = redacted
        }
    }

    /// The warm VM a job ran on.
    package struct WarmStart: Codable, Sendable, Equatable {
        /// The libvirt domain, `construir-warm-…`.
        package var domain: String
        /// Seconds from the VM's boot to the hand-over.
        package var age: Double
        /// Seconds the hand-over took on the host (job copied to its disk, output disk grown).
        package var handover: Double

        package init(domain: String, age: Double, handover: Double) {
            self.domain = domain
            self.age = age
            self.handover = handover
        }
    }

    package init(job: String, name: String, status: Status, exitCode: Int?, error: String?, image: Image?,
                timestamps: Timestamps, durations: Durations, sizes: Sizes, limits: Limits?, runner: String,
                attempt: Int? = nil, runnerID: String? = nil) {
        self.job = job
        self.name = name
        self.status = status
        self.exitCode = exitCode
        self.error = error
        self.image = image
        self.timestamps = timestamps
        self.durations = durations
        self.sizes = sizes
        self.limits = limits
        self.runner = runner
        self.attempt = attempt
        self.runnerID = runnerID
    }

    enum CodingKeys: String, CodingKey {
        case job, name, status, error, image, timestamps, durations, sizes, limits, runner, attempt
        case exitCode = "exit_code"
        case runnerID = "runner_id"
        case outputDigest = "output_digest"
        case quorum, stages, comparison
        case source, warm, submitter, secrets
    }

    /// The JSON written to result.json (stable key order, ISO 8601 dates, explicit nulls).
    package func encoded() throws -> Data {
        try Self.jsonEncoder().encode(NullKeeping(self))
    }

    package static func decode(_ data: Data) throws -> JobResult {
        try jsonDecoder().decode(JobResult.self, from: data)
    }

    /// The conventions of every JSON file construir writes (result.json, claim.json, status):
    /// pretty, stable key order, ISO 8601 dates with fractional seconds.
    package static func jsonEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(timestamp(date))
        }
        return encoder
    }

    /// Reads what `jsonEncoder` writes.
    package static func jsonDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = parseTimestamp(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad timestamp \(text)"))
            }
            return date
        }
        return decoder
    }

    /// One formatter for every result: making one per date dominated reading a large done/.
    /// ISO8601DateFormatter is immutable once configured and safe to share between threads.
    nonisolated(unsafe) private static let formatter: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()

    package static func timestamp(_ date: Date) -> String {
        formatter.string(from: date)
    }

    /// Reads what `timestamp` writes, and any other RFC 3339 date-time a runner may send (no
    /// fractional seconds, an offset other than Z), as the API's description allows.
    package static func parseTimestamp(_ text: String) -> Date? {
        formatter.date(from: text) ?? wholeSeconds.date(from: text)
    }

    nonisolated(unsafe) private static let wholeSeconds: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter
    }()
}

/// Encodes `exit_code` and `error` as explicit nulls, so readers see every field.
private struct NullKeeping: Encodable {
    let result: JobResult
    init(_ result: JobResult) { self.result = result }

    func encode(to encoder: any Encoder) throws {
        try result.encode(to: encoder)
        var container = encoder.container(keyedBy: JobResult.CodingKeys.self)
        if result.exitCode == nil { try container.encodeNil(forKey: .exitCode) }
        if result.error == nil { try container.encodeNil(forKey: .error) }
    }
}
