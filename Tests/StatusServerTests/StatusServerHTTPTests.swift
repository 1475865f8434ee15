import ConstruirSystem
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport
@testable import JobModel
@testable import StatusServer


/// `curl` with `--path-as-is`, so `..` reaches the server as written. Returns status, headers, body.
func curl(_ url: String, maxTime: Int = 10) async throws -> (status: Int, headers: String, body: String) {
    let (exit, output) = try await runTool(["curl", "-sS", "--path-as-is", "-D", "-", "--max-time", String(maxTime), url])
    guard exit == 0 else { throw ParseError("curl \(url) failed with \(exit)") }
    guard let split = output.range(of: "\r\n\r\n") else { throw ParseError("no headers from \(url)") }
    let headers = String(output[..<split.lowerBound])
    let status = Int(headers.split(separator: " ").dropFirst().first ?? "") ?? 0
    return (status, headers.lowercased(), String(output[split.upperBound...]))
}

@Suite struct StatusServerHTTPTests {
    @Test func routesServeThePageTheAPIAndFilesButNothingOutsideDone() async throws {
        try await withTemporaryDirectory { dir in
            let done = "\(dir)/done"
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(done)/job/output", withIntermediateDirectories: true)
            try makeResult(job: "job_i0.tar.xz", status: .passed, exitCode: 0, total: 5).encoded().write(to: URL(fileURLWithPath: "\(done)/job/result.json"))
            try "console text".write(toFile: "\(done)/job/console.log", atomically: false, encoding: .utf8)
            try "<html><script>alert(1)</script></html>".write(toFile: "\(done)/job/output/page.html", atomically: false, encoding: .utf8)
            try "secret".write(toFile: "\(dir)/secret.txt", atomically: false, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: "\(done)/job/output/link.txt", withDestinationPath: "\(dir)/secret.txt")

            try await withStatusServer(queue: "\(dir)/queue", done: done) { base in
                let page = try await curl("\(base)/")
                #expect(page.status == 200)
                #expect(page.headers.contains("content-type: text/html; charset=utf-8"))
                #expect(page.headers.contains("content-security-policy: default-src 'none'"))
                #expect(page.body.contains("data-job=\"job\""))

                let api = try await curl("\(base)/api/status")
                let object = try #require(try JSONSerialization.jsonObject(with: Data(api.body.utf8)) as? [String: Any])
                #expect(object["done_total"] as? Int == 1)

                let detail = try await curl("\(base)/api/jobs/job")
                #expect(detail.body.contains("\"output/page.html\""))
                #expect(try await curl("\(base)/api/jobs/nope").status == 404)

                let log = try await curl("\(base)/done/job/console.log")
                #expect(log.status == 200 && log.body == "console text")
                #expect(log.headers.contains("content-type: text/plain; charset=utf-8"))
                #expect(log.headers.contains("x-content-type-options: nosniff"))

                let html = try await curl("\(base)/done/job/output/page.html")
                #expect(html.status == 200)
                #expect(html.headers.contains("content-type: application/octet-stream"))
                #expect(html.headers.contains("content-disposition: attachment"))

                for escape in ["/done/job/../../secret.txt", "/done/job/%2e%2e/%2e%2e/secret.txt", "/done/..%2Fsecret.txt/x",
                               "/done/job/output%2F..%2F..%2F..%2Fsecret.txt", "/done/job/output/link.txt", "/done/job/output",
                               "/done/job"] {
                    let response = try await curl("\(base)\(escape)")
                    #expect(response.status == 404, "\(escape)")
                    #expect(!response.body.contains("secret"), "\(escape)")
                }

                let metrics = try await curl("\(base)/metrics")
                #expect(metrics.headers.contains("content-type: text/plain; version=0.0.4"))
                let (_, samples) = try parsePrometheus(metrics.body)
                #expect(samples.contains(Sample(name: "construir_jobs_finished_total", labels: ["status": "passed"], value: 1)))
            }
        }
    }

    /// A queue on a disk so slow that each snapshot blocks for 6 s: four requests for it at
    /// once (twice the cooperative pool's threads here) must not hold up a request for one
    /// job's page. Were the snapshots read on the cooperative pool, that request would be
    /// answered only after one of them finished; it is checked by that order, not by a time,
    /// so a busy machine does not fail it.
    @Test func slowQueueReadsHoldNoThreadThatOtherRequestsNeed() async throws {
        try await withTemporaryDirectory { dir in
            let done = "\(dir)/done"
            try FileManager.default.createDirectory(atPath: "\(done)/job", withIntermediateDirectories: true)
            try makeResult(job: "job_i0.tar.xz", status: .passed, exitCode: 0, total: 5).encoded().write(to: URL(fileURLWithPath: "\(done)/job/result.json"))
            let source = SlowSource(observer: QueueObserver(queueDirectory: "\(dir)/queue", doneDirectory: done), delay: 6)
            try await withStatusServer(queue: "\(dir)/queue", done: done, source: source) { base in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // However busy the machine: these wait for the slow snapshots on purpose.
                    for _ in 0..<4 { group.addTask { _ = try await curl("\(base)/api/status", maxTime: 120) } }
                    while source.started < 4 { try await Task.sleep(for: .milliseconds(20)) }
                    let asked = ContinuousClock.now
                    let page = try await curl("\(base)/jobs/job")
                    let took = ContinuousClock.now - asked
                    #expect(page.status == 200 && page.body.contains("job_i0.tar.xz"))
                    #expect(source.finished == 0, "the job's page waited for a snapshot (it took \(took))")
                    try await group.waitForAll()
                    #expect(source.finished == 4)
                }
            }
        }
    }
}

/// A `StatusSource` whose snapshots block the calling thread for `delay` seconds.
final class SlowSource: StatusSource {
    let observer: QueueObserver
    let delay: UInt32
    private let counts = Mutex((started: 0, finished: 0))
    var started: Int { counts.withLock { $0.started } }
    var finished: Int { counts.withLock { $0.finished } }
    var doneDirectory: String { observer.doneDirectory }

    init(observer: QueueObserver, delay: UInt32) {
        self.observer = observer
        self.delay = delay
    }

    func snapshot(now: Date, doneLimit: Int?) -> QueueSnapshot {
        counts.withLock { $0.started += 1 }
        sleep(delay)
        counts.withLock { $0.finished += 1 }
        return observer.snapshot(now: now, doneLimit: doneLimit)
    }

    func result(directory name: String) -> JobResult? { observer.result(directory: name) }
}
