import ConstruirSystem
import Foundation
import Testing
import TestSupport
@testable import JobModel
@testable import StatusServer

/// A result.json as the runner writes it, for trees built by hand.
func makeResult(job: String, status: JobResult.Status, exitCode: Int? = nil, total: Double) -> JobResult {
    let name = JobName(fileName: job)!
    let finished = Date(timeIntervalSince1970: 1_800_000_000)
    return JobResult(
        job: job, name: name.name, status: status, exitCode: exitCode, error: nil,
        image: .init(index: 0, sha256: nil),
        timestamps: .init(queued: finished - total - 1, started: finished - total, finished: finished),
        durations: .init(wait: 1, total: total), sizes: .init(job: 100), limits: nil, runner: "construir test")
}

/// One sample line of the Prometheus text format: `name{label="value",...} number`.
struct Sample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double
}

/// Parses the exposition format strictly enough that a malformed line fails the test.
func parsePrometheus(_ text: String) throws -> (types: [String: String], samples: [Sample]) {
    var types: [String: String] = [:]
    var samples: [Sample] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
        if line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            guard parts.count == 4 else { throw ParseError("bad TYPE line: \(line)") }
            types[String(parts[2])] = String(parts[3])
            continue
        }
        if line.hasPrefix("#") { continue }
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
            throw ParseError("bad sample line: \(line)")
        }
        let series = line[..<space]
        var name = String(series)
        var labels: [String: String] = [:]
        if let open = series.firstIndex(of: "{") {
            guard series.last == "}" else { throw ParseError("bad labels: \(line)") }
            name = String(series[..<open])
            let body = series[series.index(after: open)..<series.index(before: series.endIndex)]
            for pair in body.split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, kv[1].hasPrefix("\""), kv[1].hasSuffix("\"") else { throw ParseError("bad label: \(pair)") }
                labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
            }
        }
        guard name.range(of: "^[a-zA-Z_:][a-zA-Z0-9_:]*$", options: .regularExpression) != nil else {
            throw ParseError("bad metric name: \(name)")
        }
        samples.append(Sample(name: name, labels: labels, value: value))
    }
    return (types, samples)
}

struct ParseError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

@Suite struct StatusMetricsTests {
    @Test func metricsCountJobsByStatusAndBucketDurations() throws {
        let done: [QueueSnapshot.Done] = [
            .init(directory: "a", result: makeResult(job: "a.tar.xz", status: .passed, exitCode: 0, total: 3)),
            .init(directory: "b", result: makeResult(job: "b.tar.xz", status: .passed, exitCode: 0, total: 45)),
            .init(directory: "c", result: makeResult(job: "c.tar.xz", status: .failed, exitCode: 2, total: 700)),
        ]
        let now = Date(timeIntervalSince1970: 1_800_000_100)
        let snapshot = QueueSnapshot(
            taken: now, queueDirectory: "/q", doneDirectory: "/d",
            queued: [.init(position: 1, file: "x.tar.xz", name: "x", image: 0, queued: now - 90, size: 1)],
            running: [], done: done, doneTotal: 3)
        let (types, samples) = try parsePrometheus(StatusMetrics.render(snapshot))
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { $0.name == name && $0.labels == labels }?.value
        }
        #expect(types["construir_jobs_finished_total"] == "counter")
        #expect(types["construir_job_duration_seconds"] == "histogram")
        #expect(types["construir_queue_length"] == "gauge")
        #expect(types["construir_jobs_running"] == "gauge")
        #expect(value("construir_jobs_finished_total", ["status": "passed"]) == 2)
        #expect(value("construir_jobs_finished_total", ["status": "failed"]) == 1)
        #expect(value("construir_jobs_finished_total", ["status": "timed_out"]) == 0)
        #expect(value("construir_queue_length") == 1)
        #expect(value("construir_jobs_running") == 0)
        #expect(value("construir_queue_oldest_seconds") == 90)
        #expect(value("construir_job_duration_seconds_count") == 3)
        #expect(value("construir_job_duration_seconds_sum") == 748)
        #expect(value("construir_job_duration_seconds_bucket", ["le": "5.0"]) == 1)
        #expect(value("construir_job_duration_seconds_bucket", ["le": "60.0"]) == 2)
        #expect(value("construir_job_duration_seconds_bucket", ["le": "600.0"]) == 2)
        #expect(value("construir_job_duration_seconds_bucket", ["le": "+Inf"]) == 3)
    }

    @Test func unpublishedJobsAreAGauge() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_100)
        func running(_ id: String, unpublished: Bool) -> QueueSnapshot.Running {
            QueueSnapshot.Running(
                id: id, file: "\(id).tar.xz", name: id, image: 0, slot: 1, runner: "h.1", host: "h", pid: 1, attempt: 1,
                claimed: now - 60, elapsed: 60, fromClaimRecord: true,
                unpublished: unpublished ? PublishFailure(error: "full", failures: 1, firstFailure: now - 5, nextAttempt: now + 5) : nil)
        }
        let snapshot = QueueSnapshot(
            taken: now, queueDirectory: "/q", doneDirectory: "/d", queued: [],
            running: [running("a", unpublished: true), running("b", unpublished: false), running("c", unpublished: true)],
            done: [], doneTotal: 0)
        let (types, samples) = try parsePrometheus(StatusMetrics.render(snapshot))
        #expect(types["construir_jobs_unpublished"] == "gauge")
        #expect(samples.first { $0.name == "construir_jobs_unpublished" }?.value == 2)
        #expect(samples.first { $0.name == "construir_jobs_running" }?.value == 3)

        let page = StatusPage.overview(snapshot)
        #expect(page.contains("finished, not in done/ yet (attempts failed: 1, next "))
    
    }

    @Test func stagesAreCountedAndShown() throws {
        var result = makeResult(job: "staged_i0.tar.xz", status: .passedWithFailures, exitCode: 0, total: 12)
        result.stages = [StageResult(name: "build", status: .passed, allowFailure: false, exitCode: 0, start: 0, duration: 3,
                                     console: .init(offset: 100, length: 20)),
                         StageResult(name: "lint<", status: .failed, allowFailure: true, exitCode: 7, start: 3, duration: 1),
                         StageResult(name: "test", status: .skipped, allowFailure: false)]
        let snapshot = QueueSnapshot(taken: Date(), queueDirectory: "/q", doneDirectory: "/d", queued: [], running: [],
                                     done: [.init(directory: "staged", result: result)], doneTotal: 1)
        let (_, samples) = try parsePrometheus(StatusMetrics.render(snapshot))
        func stages(_ status: String) -> Double? {
            samples.first { $0.name == "construir_stages_finished_total" && $0.labels["status"] == status }?.value
        }
        #expect(stages("passed") == 1 && stages("failed") == 1 && stages("skipped") == 1 && stages("interrupted") == 0)
        #expect(samples.first { $0.name == "construir_jobs_finished_total" && $0.labels["status"] == "passed_with_failures" }?.value == 1)
        #expect(StatusPage.overview(snapshot).contains("1/3 stages passed"))
        let page = StatusPage.job(directory: "staged", result: result, files: [])
        #expect(page.contains("<table id=\"stages\">"))
        #expect(page.contains("lint&lt; <span class=\"meta\">(allowed to fail)</span>"))
        #expect(page.contains("100–120"))
    }

    @Test func pausedRunnersAndJobsAreShownWithWhy() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_100)
        func running(_ id: String, runner: String, paused: String?) -> QueueSnapshot.Running {
            QueueSnapshot.Running(id: id, file: "\(id).tar.xz", name: id, image: 0, slot: 1, runner: runner, host: "h", pid: 1, attempt: 1,
                                  claimed: now - 60, elapsed: 60, fromClaimRecord: true, paused: paused)
        }
        let busy = PauseReason(kind: .busy, detail: "other programs use 87% of the CPUs <b>", suspendsVMs: true)
        let hours = PauseReason(kind: .hours, detail: "outside the compute hours 22:00-07:00", suspendsVMs: false)
        var snapshot = QueueSnapshot(taken: now, queueDirectory: "/q", doneDirectory: "/d", queued: [],
                                     running: [running("a", runner: "h.1", paused: busy.detail), running("b", runner: "h.2", paused: nil)],
                                     done: [], doneTotal: 0)
        snapshot.pausedRunners = [RunnerPause(runner: "h.1", since: now - 30, reasons: [busy]),
                                  RunnerPause(runner: "h.2", since: now - 10, reasons: [hours])]
        let (_, samples) = try parsePrometheus(StatusMetrics.render(snapshot))
        #expect(samples.first { $0.name == "construir_jobs_paused" }?.value == 1)
        func runners(_ reason: String) -> Double? { samples.first { $0.name == "construir_runners_paused" && $0.labels["reason"] == reason }?.value }
        #expect(runners("busy") == 1 && runners("hours") == 1 && runners("battery") == 0)

        let page = StatusPage.overview(snapshot)
        #expect(page.contains("Runner h.1 has paused its VMs since "))
        #expect(page.contains("Runner h.2 claims no new job since "))
        #expect(page.contains("paused: other programs use 87% of the CPUs &lt;b&gt;"))
        #expect(!page.contains("<b>"))
        let json = String(decoding: try snapshot.encoded(), as: UTF8.self)
        #expect(json.contains("\"paused_runners\"") && json.contains("\"suspends_vms\""), "\(json)")
    }

    @Test func warmVMsAreShownAndCounted() throws {
        let now = Date(timeIntervalSince1970: 1_800_000_100)
        var warmJob = makeResult(job: "w.tar.xz", status: .passed, exitCode: 0, total: 1)
        warmJob.warm = .init(domain: "construir-warm-a-1", age: 12, handover: 0.01)
        var snapshot = QueueSnapshot(taken: now, queueDirectory: "/q", doneDirectory: "/d", queued: [], running: [],
                                     done: [.init(directory: "w", result: warmJob),
                                            .init(directory: "c", result: makeResult(job: "c.tar.xz", status: .passed, exitCode: 0, total: 2))],
                                     doneTotal: 2)
        snapshot.warmVMs = [RunnerWarmVMs(runner: "h.1", vms: [
            .init(domain: "construir-warm-<b>-2", image: 0, state: .ready, booted: now - 5, memoryMiB: 1024, cpus: 1),
            .init(domain: "construir-warm-a-3", image: 0, state: .booting, booted: now, memoryMiB: 1024, cpus: 1),
        ])]
        let (_, samples) = try parsePrometheus(StatusMetrics.render(snapshot))
        func warm(_ state: String) -> Double? { samples.first { $0.name == "construir_warm_vms" && $0.labels["state"] == state }?.value }
        #expect(warm("ready") == 1 && warm("booting") == 1)
        #expect(samples.first { $0.name == "construir_jobs_warm_total" }?.value == 1)

        let page = StatusPage.overview(snapshot)
        #expect(page.contains("<h2>Warm VMs (<span id=\"warm-count\">2</span>)</h2>"))
        #expect(page.contains("construir-warm-&lt;b&gt;-2</td><td>0</td><td>ready</td>"))
        let json = String(decoding: try snapshot.encoded(), as: UTF8.self)
        #expect(json.contains("\"warm_vms\"") && json.contains("\"memory_mib\" : 1024"), "\(json)")
    }
}

@Suite struct StatusPageTests {
    @Test func everythingFromAJobIsEscaped() {
        var result = makeResult(job: "x.tar.xz", status: .error, total: 1)
        result.error = "<script>alert('x')</script> & \"quoted\""
        result.job = "<img src=x onerror=alert(1)>.tar.xz"
        let page = StatusPage.job(directory: "x", result: result,
                                  files: [.init(path: "output/<b>.html", size: 1, isRegularFile: true),
                                          .init(path: "output/link", size: 0, isRegularFile: false)])
        #expect(!page.contains("<script>"))
        #expect(!page.contains("<img"))
        #expect(!page.contains("<b>"))
        #expect(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quoted&quot;"))
        #expect(page.contains("href=\"/done/x/output/%3Cb%3E.html\""))
        #expect(!page.contains("href=\"/done/x/output/link\""))
    }

    @Test func theOverviewLinksOnlyFilesThatExist() {
        let snapshot = QueueSnapshot(
            taken: Date(), queueDirectory: "/q", doneDirectory: "/d", queued: [], running: [],
            done: [.init(directory: "junk", result: makeResult(job: "junk.tar.xz", status: .rejected, total: 0))], doneTotal: 1)
        let page = StatusPage.overview(snapshot) { _, file in file == "result.json" }
        #expect(page.contains("href=\"/done/junk/result.json\""))
        #expect(page.contains("href=\"/jobs/junk\""))
        #expect(!page.contains("console.log"))
        #expect(!page.contains("output.tar.xz"))
    }

    @Test func pathSegmentsEncodeEverythingButUnreservedCharacters() {
        #expect(StatusPage.pathSegment("a b/../c?d#e%") == "a%20b%2F..%2Fc%3Fd%23e%25")
        #expect(StatusPage.pathSegment("hello.2_x-y~") == "hello.2_x-y~")
    }
}

@Suite struct ListenAddressTests {
    @Test func parsesHostAndPort() throws {
        #expect(try ListenAddress(parsing: "127.0.0.1:8080") == ListenAddress(host: "127.0.0.1", port: 8080))
        #expect(try ListenAddress(parsing: "[::1]:0") == ListenAddress(host: "::1", port: 0))
        #expect(try ListenAddress(parsing: "localhost:65535").port == 65535)
        for bad in ["8080", ":8080", "host:", "host:http", "host:70000", "::1:80", "[::1]80"] {
            #expect(throws: (any Error).self, "\(bad)") { try ListenAddress(parsing: bad) }
        }
    }
}

@Suite struct DoneFilesTests {
    @Test func servesRegularFilesInsideDoneOnly() async throws {
        try await withTemporaryDirectory { dir in
            let done = "\(dir)/done"
            try FileManager.default.createDirectory(atPath: "\(done)/job/output/sub", withIntermediateDirectories: true)
            try "secret".write(toFile: "\(dir)/secret.txt", atomically: false, encoding: .utf8)
            try "log".write(toFile: "\(done)/job/console.log", atomically: false, encoding: .utf8)
            try "deep".write(toFile: "\(done)/job/output/sub/file.txt", atomically: false, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: "\(done)/job/output/escape.txt", withDestinationPath: "\(dir)/secret.txt")
            try FileManager.default.createSymbolicLink(atPath: "\(done)/job/output/dirlink", withDestinationPath: dir)
            try FileManager.default.createSymbolicLink(atPath: "\(done)/linkedjob", withDestinationPath: "\(done)/job")
            let files = DoneFiles(doneDirectory: done)

            let log = try #require(files.open(job: "job", path: ["console.log"]))
            #expect(String(decoding: log.read(at: 0, count: 100), as: UTF8.self) == "log")
            #expect(files.open(job: "job", path: ["output", "sub", "file.txt"])?.size == 4)

            #expect(files.open(job: "job", path: ["output", "escape.txt"]) == nil)
            #expect(files.open(job: "job", path: ["output", "dirlink", "secret.txt"]) == nil)
            #expect(files.open(job: "linkedjob", path: ["console.log"]) == nil)
            #expect(files.open(job: "job", path: ["..", "..", "secret.txt"]) == nil)
            #expect(files.open(job: "..", path: ["secret.txt"]) == nil)
            #expect(files.open(job: "job", path: ["output"]) == nil)
            #expect(files.open(job: "job", path: ["output/sub/file.txt"]) == nil)
            #expect(files.open(job: "job", path: []) == nil)

            let listing = files.list(job: "job")
            #expect(listing.map(\.path) == ["console.log", "output/dirlink", "output/escape.txt", "output/sub/file.txt"])
            #expect(listing.map(\.isRegularFile) == [true, false, false, true])
        }
    }

    @Test func nothingIsServedAsHTML() {
        #expect(DoneFiles.contentType(for: "console.log") == ("text/plain; charset=utf-8", false))
        #expect(DoneFiles.contentType(for: "result.json") == ("application/json; charset=utf-8", false))
        #expect(DoneFiles.contentType(for: "index.html") == ("application/octet-stream", true))
        #expect(DoneFiles.contentType(for: "output.tar.xz") == ("application/octet-stream", true))
    }
}
