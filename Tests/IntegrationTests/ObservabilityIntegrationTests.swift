import ConstruirSystem
import Foundation
import Logging
import ServiceLifecycle
import Testing
import TestSupport
@testable import JobModel
@testable import Runner
import StatusServer

/// The `construir` executable built beside the test bundle (`swift build` / `swift test` build it).
func construirExecutable() throws -> String {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("construir").path
    let candidates = [beside, "\(VMSuites.RunnerIntegrationTests.repository)/.build/debug/construir"]
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw ConstruirTestError("the construir executable is not built (looked at \(candidates)); run swift build")
    }
    return found
}

/// Runs the construir executable; returns its exit status and standard output.
func construir(_ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await runTool([try construirExecutable()] + arguments)
}

/// Debian's Chromium, when installed (scripts/install-deps installs it).
let chromiumPath: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }

extension VMSuites {
/// status, result, logs, run-once, the on-done hook and the web page, against done/ trees made
/// by real runs of the sample jobs in VMs.
@Suite(.serialized) struct ObservabilityIntegrationTests {
    static let repository = RunnerIntegrationTests.repository
    static let images = "\(repository)/images"

    private func requireImage() throws {
        try requireImage0()
    }

    private func pack(_ job: String, to destination: String) async throws {
        let (status, _) = try await runTool(["\(Self.repository)/jobs/make-job.sh", "\(Self.repository)/jobs/\(job)", destination])
        guard status == 0 else { throw ConstruirTestError("make-job.sh failed for \(job)") }
    }

    @Test func statusResultLogsAndHooksReadARealRun() async throws {
        try requireImage()
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            try await pack("hello", to: "\(dir)/queue/hello_i0.tar.xz")
            try await pack("fail", to: "\(dir)/queue/fail_i0.tar.xz")
            let logger = Logger(label: "test")
            // A hook that fails and one that records: the failure must change nothing.
            let failing = OnDoneHook(command: "echo hook failing >&2; exit 9", logger: logger)
            let recording = OnDoneHook(command: "printf '%s %s\\n' \"$1\" \"$CONSTRUIR_JOB_STATUS\" >> '\(dir)/hook-calls'", logger: logger)
            let runner = try makeTestRunner(in: dir, images: Self.images, timeout: .seconds(180), onPublished: { job in
                #expect(await failing.run(for: job) == .exited(9))
                #expect(await recording.run(for: job) == .exited(0))
            })
            let location = ["--queue", "\(dir)/queue", "--done", "\(dir)/done"]
            let running = Task { try await runner.run() }

            // While hello runs: status shows it running, and logs --follow prints its console
            // as it grows and ends when it is done.
            let runningDirectory = "\(dir)/queue/.construir/running"
            let deadline = ContinuousClock.now + .seconds(60)
            while ((try? FileManager.default.contentsOfDirectory(atPath: runningDirectory)) ?? []).isEmpty, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            let during = try await construir(["status", "--json"] + location)
            let duringSnapshot = try #require(try JSONSerialization.jsonObject(with: Data(during.output.utf8)) as? [String: Any])
            let runningJobs = try #require(duringSnapshot["running"] as? [[String: Any]])
            #expect(runningJobs.map { $0["file"] as? String } == ["hello_i0.tar.xz"])
            #expect((runningJobs.first?["elapsed"] as? Double ?? -1) >= 0)
            // The runner's claim.json: who runs it, in which slot.
            #expect(runningJobs.first?["from_claim_record"] as? Bool == true)
            #expect(runningJobs.first?["slot"] as? Int == 1)
            #expect(runningJobs.first?["runner"] as? String == runner.identity.id)
            #expect((duringSnapshot["queued"] as? [[String: Any]])?.map { $0["file"] as? String } == ["fail_i0.tar.xz"])
            let followed = Task { try await construir(["logs", "--follow", "hello"] + location) }
            try await running.value
            let follow = try await followed.value

            // Both jobs published despite the failing hook; the hook saw each done directory.
            #expect(Set(try FileManager.default.contentsOfDirectory(atPath: "\(dir)/done")) == ["hello", "fail"])
            #expect(try readResult("\(dir)/done/hello").status == .passed)
            #expect(try readResult("\(dir)/done/fail").status == .failed)
            let calls = try String(contentsOfFile: "\(dir)/hook-calls", encoding: .utf8).split(separator: "\n").sorted()
            #expect(calls == ["\(dir)/done/fail failed", "\(dir)/done/hello passed"])

            #expect(follow.status == 0)
            #expect(follow.output == (try String(contentsOfFile: "\(dir)/done/hello/console.log", encoding: .utf8)))

            // status --json: the JSON document; plain status: a readable table.
            let json = try await construir(["status", "--json"] + location)
            #expect(json.status == 0)
            let snapshot = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
            #expect(snapshot["done_total"] as? Int == 2)
            #expect((snapshot["queued"] as? [Any])?.isEmpty == true)
            #expect((snapshot["running"] as? [Any])?.isEmpty == true)
            let done = try #require(snapshot["done"] as? [[String: Any]])
            let statuses = Dictionary(uniqueKeysWithValues: done.compactMap { entry -> (String, String)? in
                guard let name = entry["directory"] as? String, let result = entry["result"] as? [String: Any],
                      let status = result["status"] as? String else { return nil }
                return (name, status)
            })
            #expect(statuses == ["hello": "passed", "fail": "failed"])
            let text = try await construir(["status"] + location)
            #expect(text.status == 0)
            #expect(text.output.contains("0 waiting"))
            #expect(text.output.contains("running: 0"))
            #expect(text.output.range(of: #"hello\s+passed\s+exit 0"#, options: .regularExpression) != nil, "\(text.output)")
            #expect(text.output.range(of: #"fail\s+failed\s+exit 3"#, options: .regularExpression) != nil, "\(text.output)")

            // result: status, exit code, job_output.txt; exit code from the status.
            let hello = try await construir(["result", "hello"] + location)
            #expect(hello.status == 0)
            #expect(hello.output.contains("passed"))
            let fail = try await construir(["result", "fail_i0.tar.xz", "--extract", "\(dir)/extracted"] + location)
            #expect(fail.status == 1)
            #expect(fail.output.range(of: #"exit code\s+3"#, options: .regularExpression) != nil, "\(fail.output)")
            #expect(fail.output.contains("--- output/job_output.txt ---"))
            #expect(fail.output.contains("this job is about to fail"))
            let extracted = try String(contentsOfFile: "\(dir)/extracted/job_output.txt", encoding: .utf8)
            #expect(extracted == (try String(contentsOfFile: "\(dir)/done/fail/output/job_output.txt", encoding: .utf8)))
            #expect(try await construir(["result", "nope"] + location).status == 70)

            // logs: the console log as the runner stored it.
            let logs = try await construir(["logs", "hello"] + location)
            #expect(logs.status == 0)
            #expect(logs.output.contains("construir-agent"))
            #expect(logs.output == (try String(contentsOfFile: "\(dir)/done/hello/console.log", encoding: .utf8)))
            #expect(try await construir(["logs", "--follow", "fail"] + location).output.contains("this job is about to fail"))
        }
    }

    @Test func runOnceRunsAJobLikeTheRunnerAndLeavesTheFileAlone() async throws {
        try requireImage()
        try await withTemporaryDirectory { dir in
            try await pack("hello", to: "\(dir)/hello_i0.tar.xz")
            try Data("not a job".utf8).write(to: URL(fileURLWithPath: "\(dir)/junk_i0.tar.xz"))
            let before = try BuildImage.sha256(ofFile: "\(dir)/hello_i0.tar.xz")
            let modified = try FileManager.default.attributesOfItem(atPath: "\(dir)/hello_i0.tar.xz")[.modificationDate] as? Date

            let started = ContinuousClock.now
            let run = try await construir(["run-once", "\(dir)/hello_i0.tar.xz", "--done", "\(dir)/done", "--images", Self.images,
                                     "--memory", "512M", "--timeout", "180s", "--log-format", "json",
                                     "--on-done", "printf '%s' \"$1\" > '\(dir)/hook'"])
            print("run-once hello: \(ContinuousClock.now - started)")
            #expect(run.status == 0, "\(run.output)")
            #expect(run.output.contains("construir-agent"))  // the console, printed as it ran
            #expect(run.output.contains("hello from construir"))
            #expect(run.output.range(of: #"status\s+passed"#, options: .regularExpression) != nil)
            #expect(try readResult("\(dir)/done/hello").status == .passed)
            #expect(try String(contentsOfFile: "\(dir)/done/hello/output/hello.txt", encoding: .utf8).contains("hello from construir"))
            #expect(try String(contentsOfFile: "\(dir)/hook", encoding: .utf8) == "\(dir)/done/hello")
            // The user's file is untouched, and the job in done/ is a copy of it.
            #expect(try BuildImage.sha256(ofFile: "\(dir)/hello_i0.tar.xz") == before)
            #expect(try FileManager.default.attributesOfItem(atPath: "\(dir)/hello_i0.tar.xz")[.modificationDate] as? Date == modified)
            #expect(try BuildImage.sha256(ofFile: "\(dir)/done/hello/job.tar.xz") == before)

            let junk = try await construir(["run-once", "\(dir)/junk_i0.tar.xz", "--done", "\(dir)/done", "--images", Self.images])
            #expect(junk.status == 4, "\(junk.output)")
            #expect(try readResult("\(dir)/done/junk").status == .rejected)
            #expect(FileManager.default.fileExists(atPath: "\(dir)/junk_i0.tar.xz"))
        }
    }

    @Test(.enabled(if: chromiumPath != nil, "chromium is not installed: apt-get install chromium (scripts/install-deps installs it)"))
    func thePageShowsARealJobInChromiumAndItsLinksWork() async throws {
        try requireImage()
        let chromium = try #require(chromiumPath)
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(atPath: "\(dir)/queue", withIntermediateDirectories: true)
            try await pack("hello", to: "\(dir)/queue/hello_i0.tar.xz")
            // Rejected without booting: no console log or output, so the page must not link them.
            try Data("not a job".utf8).write(to: URL(fileURLWithPath: "\(dir)/queue/junk_i0.tar.xz"))
            try await makeTestRunner(in: dir, images: Self.images, timeout: .seconds(180)).run()
            try await pack("hello", to: "\(dir)/queue/waiting_i0.tar.xz")  // queued, for the page's queue table

            try await withStatusServer(queue: "\(dir)/queue", done: "\(dir)/done") { base in
                let started = ContinuousClock.now
                let dom = try await dumpDOM(chromium, "\(base)/", profile: "\(dir)/chromium")
                print("chromium loaded the status page in \(ContinuousClock.now - started)")
                #expect(dom.contains("<title>construir</title>"))
                #expect(dom.contains("data-job=\"hello\""))
                #expect(dom.range(of: #"class="status passed">passed<"#, options: .regularExpression) != nil, "\(dom)")
                #expect(dom.contains("waiting_i0.tar.xz"))
                #expect(dom.range(of: #"class="status rejected">rejected<"#, options: .regularExpression) != nil)

                // Every link on the page answers, and the job's files come back as stored.
                let links = hrefs(in: dom)
                #expect(links.contains("/done/hello/console.log"))
                #expect(links.contains("/jobs/hello"))
                for link in links {
                    let response = try await curl("\(base)\(link)")
                    #expect(response.status == 200, "\(link)")
                }
                let console = try String(contentsOfFile: "\(dir)/done/hello/console.log", encoding: .utf8)
                #expect(try await curl("\(base)/done/hello/console.log").body == console)
                let archive = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/done/hello/output.tar.xz"))
                let (status, downloaded) = try await runTool(["sh", "-c", "curl -sS '\(base)/done/hello/output.tar.xz' | sha256sum"])
                #expect(status == 0)
                #expect(downloaded.hasPrefix(try BuildImage.sha256(ofFile: "\(dir)/done/hello/output.tar.xz")), "\(archive.count) bytes")

                // The job page, in the browser: its file links lead to the output, shown as text.
                let jobPage = try await dumpDOM(chromium, "\(base)/jobs/hello", profile: "\(dir)/chromium")
                #expect(jobPage.contains("href=\"/done/hello/output/hello.txt\""))
                let text = try await dumpDOM(chromium, "\(base)/done/hello/output/hello.txt", profile: "\(dir)/chromium")
                #expect(text.contains("hello from construir"))
                #expect(text.contains("<pre"))  // shown as plain text, not rendered
                for link in hrefs(in: jobPage) { #expect(try await curl("\(base)\(link)").status == 200, "\(link)") }
            }
        }
    }
}
}

/// `chromium --headless --dump-dom URL`: the DOM after the page loaded. Chromium's log, with
/// the page's console messages (`:CONSOLE`, a CSP violation among them), goes to PROFILE.log.
func dumpDOM(_ chromium: String, _ url: String, profile: String) async throws -> String {
    // Chromium complains on stderr about the missing D-Bus; keep that out of the test log.
    let (status, dom) = try await runTool(["sh", "-c", "exec \"$0\" \"$@\" 2>\"$CHROMIUM_LOG\"", chromium, "--headless", "--no-sandbox",
                                     "--disable-gpu", "--no-first-run", "--enable-logging=stderr", "--v=0", "--user-data-dir=\(profile)",
                                     "--dump-dom", url],
                                    environment: ["CHROMIUM_LOG": "\(profile).log"])
    guard status == 0 else {
        let log = (try? String(contentsOfFile: "\(profile).log", encoding: .utf8)) ?? ""
        throw ConstruirTestError("chromium exited \(status) for \(url): \(log.suffix(2000))")
    }
    return dom
}

/// The local links (`href="/..."`) of a page.
func hrefs(in html: String) -> [String] {
    let regex = try! NSRegularExpression(pattern: #"href="(/[^"]*)""#)
    let range = NSRange(html.startIndex..., in: html)
    return regex.matches(in: html, range: range).compactMap { Range($0.range(at: 1), in: html).map { String(html[$0]) } }
}

/// `curl -sS -D -`: status, lower-cased headers and body of a GET.
func curl(_ url: String) async throws -> (status: Int, headers: String, body: String) {
    let (exit, output) = try await runTool(["curl", "-sS", "-D", "-", "--max-time", "20", url])
    guard exit == 0, let split = output.range(of: "\r\n\r\n") else { throw ConstruirTestError("curl \(url) failed with \(exit)") }
    let headers = String(output[..<split.lowerBound])
    return (Int(headers.split(separator: " ").dropFirst().first ?? "") ?? 0, headers.lowercased(), String(output[split.upperBound...]))
}
