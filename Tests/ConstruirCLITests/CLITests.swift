import ArgumentParser
import Foundation
import Logging
import Testing
@testable import ConstruirCLI
@testable import JobModel
@testable import Runner

/// Collects what a log handler writes.
final class LineSink: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    func write(_ line: String) { lock.lock(); text += line; lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) }
}

@Suite struct JSONLogHandlerTests {
    @Test func eachRecordIsOneJSONObjectOnOneLine() throws {
        let sink = LineSink()
        var logger = Logger(label: "construir") { JSONLogHandler(label: $0, metadataProvider: nil, write: sink.write) }
        logger.logLevel = .debug
        logger[metadataKey: "runner"] = "r1"
        logger.info("job done\nsecond line \"quoted\"", metadata: ["job": "a b_i0.tar.xz", "sizes": ["job": "1", "out": ["2", "3"]]])
        logger.debug("details")
        logger.trace("not logged")

        let lines = sink.lines
        #expect(lines.count == 3 && lines.last == "", "\(lines)")
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["level"] as? String == "info")
        #expect(first["label"] as? String == "construir")
        #expect(first["message"] as? String == "job done\nsecond line \"quoted\"")
        let metadata = try #require(first["metadata"] as? [String: Any])
        #expect(metadata["job"] as? String == "a b_i0.tar.xz")
        #expect(metadata["runner"] as? String == "r1")
        #expect((metadata["sizes"] as? [String: Any])?["out"] as? [String] == ["2", "3"])
        let time = try #require(first["time"] as? String)
        #expect(time.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil, "\(time)")
        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        #expect(second["level"] as? String == "debug")
        #expect((second["metadata"] as? [String: Any])?["runner"] as? String == "r1")
    }
}

@Suite struct CommandLineTests {
    @Test func newCommandsParse() throws {
        #expect(try Construir.parseAsRoot(["status", "--json", "--limit", "5"]) is StatusCommand)
        #expect(try Construir.parseAsRoot(["result", "hello", "--extract", "out"]) is ResultCommand)
        #expect(try Construir.parseAsRoot(["logs", "hello", "--follow"]) is LogsCommand)
        #expect(try Construir.parseAsRoot(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"]) is ServeCommand)
        let run = try #require(try Construir.parseAsRoot(["run", "--http", "[::1]:9000", "--on-done", "notify \"$1\"", "--log-format", "json"]) as? RunCommand)
        #expect(run.onDone == "notify \"$1\"")
    }

    @Test func imageDigestsParse() throws {
        let digest = String(repeating: "5e", count: 32)
        let package = try #require(try Construir.parseAsRoot(["package", "--image", "1", "--image-digest", digest]) as? PackageCommand)
        #expect(try package.makeRequest().imageDigest == digest)
        #expect(try package.makeRequest().images == [1])
        for bad in ["5E" + digest.dropFirst(2), String(digest.dropLast()), "image1"] {
            #expect(throws: (any Error).self, "\(bad)") { try Construir.parseAsRoot(["package", "--image-digest", bad]) }
        }
        let list = try #require(try Construir.parseAsRoot(["image", "list", "--packages"]) as? ImageCommand.List)
        #expect(list.packages)
    }

    @Test func badInputIsAUsageError() {
        for arguments in [["serve", "--listen", "nope"], ["run", "--http", "1.2.3.4"], ["run", "--log-format", "xml"],
                          ["run", "--on-done", " "], ["run", "--on-done-timeout", "soon"], ["status", "--limit", "-1"],
                          ["run-once", "/nonexistent/job.tar.xz"], ["run-once", "/etc/hostname"]] {
            #expect(throws: (any Error).self, "\(arguments)") { try Construir.parseAsRoot(arguments) }
        }
    }

    @Test func exitCodesFollowTheStatus() {
        #expect(JobExitCode.code(for: .passed) == 0)
        #expect(JobExitCode.code(for: .failed) == 1)
        #expect(JobExitCode.code(for: .timedOut) == 2)
        #expect(JobExitCode.code(for: .error) == 3)
        #expect(JobExitCode.code(for: .rejected) == 4)
        #expect(Set([0, 1, 2, 3, 4, JobExitCode.noResult, JobExitCode.construirFailed, 64]).count == 8)
    }

    @Test func consoleControlCharactersAreNeutralisedOnATerminal() {
        let guest = Array("ok\r\n\u{1B}]0;owned\u{07}\u{1B}[2Jtab\there \u{9B}31m é\n".utf8)
        let shown = String(decoding: TerminalText.sanitize(ArraySlice(guest)), as: UTF8.self)
        #expect(shown == "ok\n?]0;owned??[2Jtab\there ?31m é\n")
    }
}

@Suite struct StatusTextTests {
    @Test func statusShowsFinishedJobsDoneDidNotTake() {
        let now = Date(timeIntervalSince1970: 1_800_000_100)
        func running(_ id: String, unpublished: PublishFailure?) -> QueueSnapshot.Running {
            QueueSnapshot.Running(id: id, file: "\(id).tar.xz", name: id, image: 0, slot: 1, runner: "h.1", host: "h", pid: 1,
                                  attempt: 1, claimed: now - 60, elapsed: 60, fromClaimRecord: true, unpublished: unpublished)
        }
        let failure = PublishFailure(error: "done/ (/d) has 256.0 KiB (262144 bytes) free; the job needs 2.1 MiB (2248704 bytes)",
                                     failures: 2, firstFailure: now - 5, nextAttempt: Date(timeIntervalSince1970: 1_800_000_110))
        let snapshot = QueueSnapshot(taken: now, queueDirectory: "/q", doneDirectory: "/d", queued: [],
                                     running: [running("a", unpublished: failure), running("b", unpublished: nil)], done: [], doneTotal: 0)
        let text = StatusText.render(snapshot)
        #expect(text.contains("running: 2, 1 finished but not in done/ yet (retried)\n"), "\(text)")
        #expect(text.contains("unpublished (attempts failed: 2, next 2027-01-15T08:01:50Z): done/ (/d) has 256.0 KiB"), "\(text)")
        #expect(text.components(separatedBy: "unpublished (").count == 2)
    }
}
