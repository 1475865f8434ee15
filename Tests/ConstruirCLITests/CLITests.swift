import ArgumentParser
import Foundation
import Logging
import Testing
import TestSupport
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

    @Test func volunteerPreferencesParseAndAreChecked() throws {
        let run = try #require(try Construir.parseAsRoot(["run", "--hub", "https://h", "--token-file", "t", "--hours", "22:00-07:00",
                                                          "--window-end", "pause", "--pause-when-busy", "50", "--pause-on-battery"]) as? RunCommand)
        let conditions = try run.pauseConditions()
        #expect(conditions.map(\.kind) == [.hours, .busy, .battery])
        #expect((conditions[0] as? HoursCondition)?.windowEnd == .pause)
        #expect((conditions[1] as? BusyCondition)?.percent == 50)
        for bad in [["run", "--pause-when-busy", "0"], ["run", "--pause-when-busy", "101"], ["run", "--window-end", "pause"],
                    ["run", "--hours", "22:00-07:00", "--window-end", "later"]] {
            #expect(throws: (any Error).self, "\(bad)") { try Construir.parseAsRoot(bad) }
        }
    }

    @Test func aConfigFileSetsRunOptionsAndTheCommandLineWins() async throws {
        try await withTemporaryDirectory { dir in
            let file = "\(dir)/runner.yml"
            try """
            # A volunteer's runner
            hub: https://hub.example.org
            token_file: /etc/construir/token
            hours: [22:00-07:00, "12:00-13:00"]
            window_end: pause
            pause_when_busy: 40
            pause_on_battery: true
            pull_images: false
            slots: 2
            """.write(toFile: file, atomically: true, encoding: .utf8)
            let commandLine = ["--config", file, "--slots", "1", "--pause-when-busy=70"]
            let run = try RunCommand.parse(commandLine).applyingConfig(commandLine: commandLine)
            #expect(run.hubConnection.hub == "https://hub.example.org")
            #expect(run.hubConnection.tokenFile == "/etc/construir/token")
            #expect(run.hours == ["22:00-07:00", "12:00-13:00"])
            #expect(run.windowEnd == .pause)
            #expect(run.pauseOnBattery)
            #expect(!run.pullImages)
            #expect(run.slots == 1, "the command line wins")
            #expect(run.pauseWhenBusy == 70, "the command line wins, also as --option=value")
            #expect(try run.pauseConditions().map(\.kind) == [.hours, .busy, .battery])

            for (text, problem) in [("pause_when_busy: 0", "--pause-when-busy takes a percentage"),
                                    ("pause_when_bussy: 50", "pause-when-bussy"),
                                    ("config: other.yml", "config cannot be set in a file"),
                                    ("- just a list", "must be a mapping"),
                                    ("hours: {a: b}", "hours must be a value or a list"),
                                    ("hours: [25:00-07:00]", "--hours 25:00-07:00")] {
                try text.write(toFile: file, atomically: true, encoding: .utf8)
                let error = #expect(throws: (any Error).self, "\(text)") {
                    try RunCommand.parse(["--config", file]).applyingConfig(commandLine: ["--config", file])
                }
                let message = error.map { RunCommand.message(for: $0) } ?? ""
                #expect(message.contains(problem), "\(text): \(message)")
            }
            #expect(throws: (any Error).self) { try RunCommand.parse(["--config", "\(dir)/missing.yml"]).applyingConfig(commandLine: []) }
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

    @Test func statusShowsAPausedRunnerAndItsJobs() {
        let now = Date(timeIntervalSince1970: 1_800_000_100)
        let why = "other programs use 87% of the CPUs (--pause-when-busy 50)"
        var snapshot = QueueSnapshot(
            taken: now, queueDirectory: "/q", doneDirectory: "/d", queued: [],
            running: [QueueSnapshot.Running(id: "a", file: "a.tar.xz", name: "a", image: 0, slot: 1, runner: "h.1", host: "h", pid: 1,
                                            attempt: 1, claimed: now - 60, elapsed: 60, fromClaimRecord: true, paused: why)],
            done: [], doneTotal: 0)
        snapshot.pausedRunners = [RunnerPause(runner: "h.1", since: Date(timeIntervalSince1970: 1_800_000_000),
                                              reasons: [PauseReason(kind: .busy, detail: why, suspendsVMs: true)])]
        let text = StatusText.render(snapshot)
        #expect(text.contains("runner h.1 paused since 2027-01-15T08:00:00Z: \(why)\n"), "\(text)")
        #expect(text.contains("paused: \(why)"), "\(text)")
    }

    @Test func statusShowsWarmVMs() {
        let now = Date(timeIntervalSince1970: 1_800_000_100)
        var snapshot = QueueSnapshot(taken: now, queueDirectory: "/q", doneDirectory: "/d", queued: [], running: [], done: [], doneTotal: 0)
        snapshot.warmVMs = [RunnerWarmVMs(runner: "h.1", vms: [
            .init(domain: "construir-warm-a-1", image: 0, state: .ready, booted: Date(timeIntervalSince1970: 1_800_000_000), memoryMiB: 1024, cpus: 1),
            .init(domain: "construir-warm-a-2", image: 1, state: .booting, booted: now, memoryMiB: 1024, cpus: 2),
        ])]
        let text = StatusText.render(snapshot)
        #expect(text.contains("warm VMs: 2, 1 ready\n"), "\(text)")
        #expect(text.contains("construir-warm-a-1  image 0  ready    booted 2027-01-15T08:00:00Z  1024 MiB, 1 CPU  h.1"), "\(text)")
        #expect(text.contains("construir-warm-a-2  image 1  booting"), "\(text)")
    }

    @Test func warmOptionsParseAndAreChecked() throws {
        #expect(try RunnerSetup.warmCount("auto", acceleration: .kvm) == 1)
        #expect(try RunnerSetup.warmCount("auto", acceleration: .tcg) == 0)
        #expect(try RunnerSetup.warmCount("3", acceleration: .tcg) == 3)
        for bad in ["-1", "17", "many", ""] {
            #expect(throws: (any Error).self, "\(bad)") { try RunnerSetup.warmCount(bad, acceleration: .kvm) }
        }
        let run = try #require(try Construir.parseAsRoot(["run", "--warm", "2", "--warm-max-age", "10m", "--warm-image", "1"]) as? RunCommand)
        #expect(run.warm == "2" && run.warmMaxAge == "10m" && run.warmImage == [1])
        for bad in [["run", "--warm", "x"], ["run", "--warm-max-age", "soon"]] {
            #expect(throws: (any Error).self, "\(bad)") { try Construir.parseAsRoot(bad) }
        }
        #expect(RunnerSetup.machineBudget(memoryMiB: 1 << 30, slots: 3) == 3, "never fewer VMs than slots")
    }
}

/// `-p`, `--tag` on `package` and `try`, and `run --tag`, as the commands parse them.
@Suite struct ParameterAndTagOptionTests {
    @Test func packageAndTryPassParametersAndTags() throws {
        let package = try PackageCommand.parse(["repo", "-p", "MODE=debug", "-p", "T=a=b", "--tag", "gpu", "--tag", "owner:alice"]).makeRequest()
        #expect(package.parameters.map(\.description) == ["MODE=debug", "T=a=b"])
        #expect(package.tags == ["gpu", "owner:alice"])
        #expect(throws: (any Error).self) { try PackageCommand.parse(["repo", "--tag", "no space"]).makeRequest() }
        #expect(throws: (any Error).self) { try PackageCommand.parse(["repo", "-p", "1X=a"]).makeRequest() }
        let tried = try TryCommand.parse(["repo", "-p", "MODE=release"]).makeRequest(queue: "/tmp/q")
        #expect(tried.parameters.map(\.description) == ["MODE=release"])
    }

    @Test func runTagsAddToTheMachinesAndReservedOnesAreRefused() throws {
        let tags = try RunCommand.parse(["--tag", "gpu", "--accel", "tcg"]).runnerTags().tags
        #expect(tags.isSuperset(of: ["gpu", "accel:tcg"]))
        #expect(tags.contains { $0.hasPrefix("cpus:") } && tags.contains { $0.hasPrefix("memory:") } && tags.contains { $0.hasPrefix("arch:") })
        #expect(throws: (any Error).self) { try RunCommand.parse(["--tag", "owner:me", "--accel", "tcg"]).runnerTags() }
    }
}
