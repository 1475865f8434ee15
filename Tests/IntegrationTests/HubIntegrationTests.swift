import AsyncHTTPClient
import Foundation
import Hub
import HubAPI
import HubClient
import JobModel
import Testing
import TestSupport

/// A hub's directories and tokens for process tests: `DIR/queue`, `DIR/done`, `DIR/tokens.json`,
/// one token file per name, one state directory per runner.
struct HubTree {
    let dir: String
    var queue: String { "\(dir)/queue" }
    var done: String { "\(dir)/done" }
    var tokens: String { "\(dir)/tokens.json" }
    var leases: String { "\(dir)/queue/.construir-hub" }

    /// Makes a token and writes its secret to `DIR/NAME.token` (mode 0600); returns that path.
    @discardableResult
    func addToken(_ name: String, role: HubRole, tags: [String] = []) throws -> String {
        let secret = try HubTokenStore(path: tokens).add(name: name, role: role, tags: tags)
        let path = tokenFile(name)
        #expect(FileManager.default.createFile(atPath: path, contents: Data((secret + "\n").utf8), attributes: [.posixPermissions: 0o600]))
        return path
    }

    func tokenFile(_ name: String) -> String { "\(dir)/\(name).token" }

    func secret(_ name: String) throws -> String { try HubClient.readToken(file: tokenFile(name)) }

    /// Runs `body` with a client holding `name`'s token, and shuts the client down after.
    func withClient<T>(_ name: String, url: String, caFile: String? = nil, _ body: (HubClient) async throws -> T) async throws -> T {
        let client = try HubClient(url: url, token: try secret(name), caFile: caFile)
        do {
            let value = try await body(client)
            await client.shutdown()
            return value
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// `construir hub serve` on a free loopback port (or `port`), once it listens.
    func startHub(lease: String, port: Int = 0, extra: [String] = [], log: String) async throws -> (process: RunnerProcess, url: String) {
        // An explicit mode: libarchive, extracting in another test of this process, sets the
        // umask to 0 for a moment, and the hub refuses a queue others could write.
        try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let hub = try RunnerProcess(["--listen", "127.0.0.1:\(port)", "--queue", queue, "--done", done, "--tokens", tokens,
                                     "--lease", lease] + extra, command: ["hub", "serve"], log: log)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let range = hub.log.range(of: #"hub listening at https?://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                let url = String(hub.log[range].dropFirst("hub listening at ".count))
                return (hub, url)
            }
            guard hub.process.isRunning else { throw ConstruirTestError("the hub exited: \(hub.log)") }
            try await Task.sleep(for: .milliseconds(50))
        }
        hub.signal(SIGKILL)
        throw ConstruirTestError("the hub did not start listening: \(hub.log)")
    }

    /// `construir run --hub URL` with its own state directory, at normal priority unless `extra` says.
    func startRunner(_ name: String, url: String, log: String, extra: [String] = [],
                     environment: [String: String] = [:]) throws -> RunnerProcess {
        try RunnerProcess(["--hub", url, "--token-file", tokenFile(name), "--state", "\(dir)/state-\(name)",
                           "--images", "\(VMSuites.RunnerIntegrationTests.repository)/images", "--memory", "256M",
                           "--timeout", "120s", "--slots", "1"] + (extra.contains("--grace") ? [] : ["--grace", "5s"])
                          // Normal priority: under SCHED_IDLE a VM would wait for every other test of the
                          // run and could reach its timeout (idle priority is tested on its own).
                          + (extra.contains("--priority") ? [] : ["--priority", "normal"]) + extra,
                          environment: environment, log: log)
    }

    /// Kills every process whose command line names this tree's directory: its hubs, runners,
    /// commands and VMs. For `defer` right after the tree is made, so that a test that fails
    /// halfway still leaves nothing running (scripts/test fails the run over any leftover).
    /// Runs `body` with a tree in a new temporary directory, and ends every process and VM it
    /// started, even when `body` fails.
    static func with<T>(_ body: (HubTree) async throws -> T) async throws -> T {
        try await withTemporaryDirectory { dir in
            let tree = HubTree(dir: dir)
            defer { tree.endEverything() }
            return try await body(tree)
        }
    }

    /// Expects a sleeper job's result that ran once, on `runner`, and wrote its file.
    func expectSleptOnce(_ result: JobResult, on runner: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.attempt == 1, sourceLocation: sourceLocation)
        #expect(result.runnerID == runner, sourceLocation: sourceLocation)
        #expect((try? String(contentsOfFile: "\(done)/sleeper/output/slept.txt", encoding: .utf8)) == "slept\n", sourceLocation: sourceLocation)
    }

    func endEverything() {
        for entry in FileManager.default.contentsOfDirectory(atPath: "/proc", default: []) {
            guard let pid = Int32(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let line = String(decoding: data, as: UTF8.self)
            if line.contains("\(dir)/"), line.contains("construir") || line.contains("qemu-system") { kill(pid, SIGKILL) }
        }
    }

    /// The done/ directories holding a result.json.
    func results() -> [String: JobResult] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: done)) ?? []).filter { !$0.hasPrefix(".") }
        var results: [String: JobResult] = [:]
        for name in names {
            if let result = try? readResult("\(done)/\(name)") { results[name] = result }
        }
        return results
    }

    func waitForResults(_ count: Int, timeout: Duration, logs: [RunnerProcess]) async throws -> [String: JobResult] {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let results = results()
            if results.count >= count { return results }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ConstruirTestError("expected \(count) results in done/, found \(results().count)\n" + logs.map(\.log).joined(separator: "\n-----\n"))
    }

    /// Packs the job in `DIR/JOB/job/construir` (a bash script) into `path`.
    static func makeJob(script: String, in scratch: String, name: String, to path: String) async throws {
        let jobDirectory = "\(scratch)/src-\(name)/job"
        try FileManager.default.createDirectory(atPath: jobDirectory, withIntermediateDirectories: true)
        try script.write(toFile: "\(jobDirectory)/construir", atomically: true, encoding: .utf8)
        let repository = VMSuites.RunnerIntegrationTests.repository
        let (status, log) = try await runTool(["\(repository)/jobs/make-job.sh", "\(scratch)/src-\(name)", path])
        guard status == 0 else { throw ConstruirTestError("make-job.sh: \(log)") }
    }

    /// A job that sleeps `seconds` in the guest, then writes `slept.txt` as its output.
    static func sleeperScript(_ seconds: Int) -> String {
        """
        #!/bin/bash
        set -euo pipefail
        echo "sleeping"
        sleep \(seconds)
        mkdir -p /tmp/out && echo slept > /tmp/out/slept.txt
        tar -C /tmp/out -cJf /dev/sdb .
        """
    }

    /// Tokens for runner-a and runner-b, a hub with `lease`, and a job that sleeps `seconds`
    /// queued as sleeper_i0.tar.xz.
    func startSleeperHub(lease: String, seconds: Int) async throws -> (process: RunnerProcess, url: String) {
        try addToken("runner-a", role: .runner)
        try addToken("runner-b", role: .runner)
        let started = try await startHub(lease: lease, log: "\(dir)/hub.log")
        try await Self.makeJob(script: Self.sleeperScript(seconds), in: dir, name: "sleeper", to: "\(queue)/sleeper_i0.tar.xz")
        return started
    }

    /// Waits until `runner` has claimed and downloaded a job.
    func waitForClaim(_ runner: RunnerProcess) async throws {
        _ = try await waitForFirstClaim([runner])
    }

    /// Waits until one of `runners` has claimed and downloaded a job; returns its index.
    func waitForFirstClaim(_ runners: [RunnerProcess]) async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(120)
        while true {
            if let index = runners.firstIndex(where: { $0.log.contains("claimed job from the hub") }) { return index }
            guard ContinuousClock.now < deadline else {
                throw ConstruirTestError("no runner claimed a job:\n" + runners.map(\.log).joined(separator: "\n-----\n"))
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The one result in done/, sleeper's, which must have passed.
    func sleeperResult(logs: [RunnerProcess]) async throws -> JobResult {
        let result = try #require(try await waitForResults(1, timeout: .seconds(300), logs: logs)["sleeper"])
        #expect(result.status == .passed, "\(result.error ?? "")")
        return result
    }

    func stop(_ processes: [RunnerProcess]) async {
        for process in processes where process.process.isRunning { process.signal(SIGTERM) }
        for process in processes { _ = await process.wait(timeout: .seconds(30)) }
    }
}

extension VMSuites {
/// Issue 15 on the real binaries: a hub and pull runners as separate processes on loopback,
/// running real VMs.
@Suite(.serialized) struct HubIntegrationTests {
    @Test func twoPullRunnersRunJobsDroppedInTheQueueAndSubmittedWithPackage() async throws {
        try requireImage0()
        try await HubTree.with { tree in
            let dir = tree.dir
            try tree.addToken("runner-a", role: .runner)
            try tree.addToken("runner-b", role: .runner)
            try tree.addToken("submitter", role: .submitter)
            let (hub, url) = try await tree.startHub(lease: "20s", log: "\(dir)/hub.log")
            let runnerA = try tree.startRunner("runner-a", url: url, log: "\(dir)/a.log")
            let runnerB = try tree.startRunner("runner-b", url: url, log: "\(dir)/b.log")
            let processes = [runnerA, runnerB, hub]

            // Two jobs dropped into the hub's queue, as into any queue.
            let repository = RunnerIntegrationTests.repository
            let packed = "\(dir)/hello.packed"
            let (status, log) = try await runTool(["\(repository)/jobs/make-job.sh", "\(repository)/jobs/hello", packed])
            #expect(status == 0, "\(log)")
            for name in ["drop1_i0.tar.xz", "drop2_i0.tar.xz"] {
                try FileManager.default.copyItem(atPath: packed, toPath: "\(tree.queue)/.\(name)")
                try FileManager.default.moveItem(atPath: "\(tree.queue)/.\(name)", toPath: "\(tree.queue)/\(name)")
            }
            // One made from a git commit and sent with `package --hub`.
            let repo = "\(dir)/project"
            try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
            try "#!/bin/bash\nset -e\nmkdir -p artifacts\necho packaged > artifacts/made.txt\n".write(toFile: "\(repo)/construir", atomically: true, encoding: .utf8)
            for command in [["git", "init", "-q"], ["chmod", "+x", "construir"], ["git", "add", "construir"],
                            ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "job"]] {
                let (status, log) = try await runTool(command, in: repo)
                #expect(status == 0, "\(command): \(log)")
            }
            let package = try RunnerProcess([repo, "--images", "\(repository)/images", "--hub", url, "--token-file", tree.tokenFile("submitter")],
                                             command: ["package"], log: "\(dir)/package.log")
            let packaged = await package.wait(timeout: .seconds(120))
            #expect(packaged?.status == 0, "\(package.log)")

            let results = try await tree.waitForResults(3, timeout: .seconds(300), logs: processes)
            for (name, result) in results {
                #expect(result.status == .passed, "\(name): \(result.error ?? "")")
                #expect(["runner-a", "runner-b"].contains(result.runnerID ?? ""), "\(name): runner_id \(result.runnerID ?? "nil")")
                #expect(result.attempt == 1)
                #expect(FileManager.default.fileExists(atPath: "\(tree.done)/\(name)/console.log"))
                #expect(FileManager.default.fileExists(atPath: "\(tree.done)/\(name)/output.tar.xz"))
                #expect(FileManager.default.fileExists(atPath: "\(tree.done)/\(name)/job.tar.xz"))
            }
            #expect(try String(contentsOfFile: "\(tree.done)/drop1/output/hello.txt", encoding: .utf8).contains("hello from construir"))
            let packagedName = try #require(results.keys.first { !$0.hasPrefix("drop") })
            #expect(try String(contentsOfFile: "\(tree.done)/\(packagedName)/output/made.txt", encoding: .utf8) == "packaged\n")

            // What `status --hub` and /metrics say about it.
            let hubStatus = try await tree.withClient("submitter", url: url) { try await $0.status() }
            #expect(hubStatus.finished == 3)
            #expect(hubStatus.leases.isEmpty)
            #expect(hubStatus.runners.map(\.jobsDone).reduce(0, +) == 3)
            let statusText = try RunnerProcess(["--hub", url, "--token-file", tree.tokenFile("runner-a")], command: ["status"], log: "\(dir)/status.log")
            #expect(await statusText.wait(timeout: .seconds(30))?.status == 0)
            #expect(statusText.log.contains("runner-a") && statusText.log.contains("finished"), "\(statusText.log)")

            await tree.stop(processes)
            #expect(!runnerA.process.isRunning && !runnerB.process.isRunning && !hub.process.isRunning)
            #expect(FileManager.default.contentsOfDirectory(atPath: "\(dir)/state-runner-a/running", default: []).isEmpty)
        }
    }

    @Test func aSubmitterStopsItsRunningJobAndTheRunnerDestroysTheVM() async throws {
        try requireImage0()
        try await HubTree.with { tree in
            let dir = tree.dir
            try tree.addToken("runner-a", role: .runner)
            try tree.addToken("submitter", role: .submitter)
            let (hub, url) = try await tree.startHub(lease: "60s", log: "\(dir)/hub.log")
            try await HubTree.makeJob(script: HubTree.sleeperScript(300), in: dir, name: "sleeper", to: "\(dir)/sleeper.packed")
            let id = try await tree.withClient("submitter", url: url) { client in
                _ = try await client.submit(file: "\(dir)/sleeper.packed", as: "sleeper_i0.tar.xz")
                return try #require(try await client.jobs().jobs.first?.id)
            }
            let runner = try tree.startRunner("runner-a", url: url, log: "\(dir)/a.log")
            let deadline = ContinuousClock.now + .seconds(120)
            while !runner.log.contains("VM started"), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            #expect(runner.log.contains("VM started"), "\(runner.log)")
            let asked = ContinuousClock.now
            _ = try await tree.withClient("submitter", url: url) { try await $0.stop(id) }
            let result = try #require(try await tree.waitForResults(1, timeout: .seconds(60), logs: [runner, hub])["sleeper"])
            let took = ContinuousClock.now - asked
            #expect(result.status == .killed, "\(result)")
            #expect(result.submitter == "submitter")
            #expect(took < .seconds(10), "stopping took \(took)")
            #expect(FileManager.default.fileExists(atPath: "\(tree.done)/sleeper/console.log"), "what the runner had is kept")
            #expect(!Self.qemuRunning(using: "\(dir)/"), "the job's VM is gone")
            await tree.stop([runner, hub])
        }
    }

    @Test func aSubmitterFollowsItsJobFromTheCommandLine() async throws {
        try requireImage0()
        try await HubTree.with { tree in
            let dir = tree.dir
            try tree.addToken("runner-a", role: .runner)
            try tree.addToken("submitter", role: .submitter)
            let (hub, url) = try await tree.startHub(lease: "20s", log: "\(dir)/hub.log")
            let runner = try tree.startRunner("runner-a", url: url, log: "\(dir)/a.log")
            let repo = "\(dir)/project"
            try FileManager.default.createDirectory(atPath: repo, withIntermediateDirectories: true)
            try "#!/bin/bash\nset -e\necho 'a line from the guest'\nmkdir -p artifacts\necho made > artifacts/made.txt\nexit 3\n"
                .write(toFile: "\(repo)/construir", atomically: true, encoding: .utf8)
            for command in [["git", "init", "-q"], ["chmod", "+x", "construir"], ["git", "add", "construir"],
                            ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "job"]] {
                let (status, log) = try await runTool(command, in: repo)
                #expect(status == 0, "\(command): \(log)")
            }
            let hubOptions = ["--hub", url, "--token-file", tree.tokenFile("submitter")]
            let repository = RunnerIntegrationTests.repository
            let package = try RunnerProcess([repo, "--images", "\(repository)/images", "--follow"] + hubOptions, command: ["package"],
                                            log: "\(dir)/package.log")
            // The job exits 3: it failed, and package exits as `result` would, 1.
            #expect(await package.wait(timeout: .seconds(300))?.status == 1, "\(package.log)")
            #expect(package.log.contains("a line from the guest") && package.log.contains("failed"), "\(package.log)")
            let name = try #require(package.log.split(whereSeparator: \.isWhitespace).first { $0.hasSuffix("_i0.tar.xz") && !$0.contains("=") }.map(String.init))

            let result = try RunnerProcess([name, "--extract", "\(dir)/extracted"] + hubOptions, command: ["result"], log: "\(dir)/result.log")
            #expect(await result.wait(timeout: .seconds(60))?.status == 1, "\(result.log)")
            #expect(result.log.contains("failed") && result.log.contains("exit code  3"), "\(result.log)")
            #expect(try String(contentsOfFile: "\(dir)/extracted/made.txt", encoding: .utf8) == "made\n")
            let logs = try RunnerProcess([name] + hubOptions, command: ["logs"], log: "\(dir)/logs.log")
            #expect(await logs.wait(timeout: .seconds(60))?.status == 0 && logs.log.contains("a line from the guest"), "\(logs.log)")
            let kill = try RunnerProcess([name] + hubOptions, command: ["kill"], log: "\(dir)/kill.log")
            #expect(await kill.wait(timeout: .seconds(60))?.status == 1 && kill.log.contains("already done"), "\(kill.log)")
            let status = try RunnerProcess(hubOptions, command: ["status"], log: "\(dir)/status.log")
            #expect(await status.wait(timeout: .seconds(60))?.status == 0, "\(status.log)")
            #expect(status.log.contains("YOUR JOBS") && status.log.contains("\(name) failed"), "\(status.log)")
            let missing = try RunnerProcess(["nosuchjob"] + hubOptions, command: ["result"], log: "\(dir)/missing.log")
            #expect(await missing.wait(timeout: .seconds(60))?.status == 70, "\(missing.log)")
            await tree.stop([runner, hub])
        }
    }

    @Test func aSubmitterFollowsTheConsoleOfAJobWhileItRuns() async throws {
        try requireImage0()
        try await HubTree.with { tree in
            let dir = tree.dir
            try tree.addToken("runner-a", role: .runner)
            try tree.addToken("submitter", role: .submitter)
            let (hub, url) = try await tree.startHub(lease: "20s", log: "\(dir)/hub.log")
            let script = "#!/bin/bash\nfor i in $(seq 1 20); do echo \"tick $i\"; sleep 1; done\nmkdir -p /tmp/o && tar -C /tmp/o -cJf /dev/sdb .\n"
            try await HubTree.makeJob(script: script, in: dir, name: "ticker", to: "\(dir)/ticker.packed")
            let id = try await tree.withClient("submitter", url: url) { try #require(try await $0.submit(file: "\(dir)/ticker.packed", as: "ticker_i0.tar.xz").id) }
            let runner = try tree.startRunner("runner-a", url: url, log: "\(dir)/a.log")
            // Followed as `logs --follow` does: a tick shows up while the job still runs.
            let seen = try await tree.withClient("submitter", url: url) { client -> (text: String, state: HubJobState) in
                var text = ""
                var offset: Int64 = 0
                let deadline = ContinuousClock.now + .seconds(180)
                while ContinuousClock.now < deadline {
                    let part = try await client.console(id, from: offset, wait: 30)
                    text += String(decoding: part.bytes, as: UTF8.self)
                    offset += Int64(part.bytes.count)
                    if text.contains("tick 3") || part.state == .done { return (text, part.state) }
                }
                return (text, .queued)
            }
            #expect(seen.text.contains("tick 3") && seen.state == .running, "\(seen.text)\n\(runner.log)")
            let result = try #require(try await tree.waitForResults(1, timeout: .seconds(120), logs: [runner, hub])["ticker"])
            #expect(result.status == .passed)
            #expect(try String(contentsOfFile: "\(tree.done)/ticker/console.log", encoding: .utf8).contains("tick 20"), "the final upload replaces the appended console")
            await tree.stop([runner, hub])
        }
    }

    /// Whether a QEMU process's command line names `directory`.
    static func qemuRunning(using directory: String) -> Bool {
        FileManager.default.contentsOfDirectory(atPath: "/proc", default: []).contains { entry in
            guard Int32(entry) != nil, let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return false }
            let line = String(decoding: data, as: UTF8.self)
            return line.contains("qemu-system") && line.contains(directory)
        }
    }

    /// Kills the QEMU processes whose command line names `directory`.
    static func killVMs(using directory: String) {
        for entry in FileManager.default.contentsOfDirectory(atPath: "/proc", default: []) {
            guard let pid = Int32(entry),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let line = String(decoding: data, as: UTF8.self)
            if line.contains("qemu-system"), line.contains(directory) { kill(pid, SIGKILL) }
        }
    }

    @Test func aRunnerKilledMidJobLosesItsLeaseAndAnotherRunsTheJobAgain() async throws {
        try requireImage0()
        try await HubTree.with { tree in
            let dir = tree.dir
            let (hub, url) = try await tree.startSleeperHub(lease: "4s", seconds: 10)
            // Both wait for work; whichever gets the job is killed, and the other must run it.
            let runners = [try tree.startRunner("runner-a", url: url, log: "\(dir)/a.log"),
                           try tree.startRunner("runner-b", url: url, log: "\(dir)/b.log")]
            let first = try await tree.waitForFirstClaim(runners)
            // The volunteer's own view: `status --state` shows the pull runner's running job.
            let local = try RunnerProcess(["--state", "\(dir)/state-\(["runner-a", "runner-b"][first])", "--queue", "\(dir)/none"],
                                          command: ["status"], log: "\(dir)/local-status.log")
            #expect(await local.wait(timeout: .seconds(30))?.status == 0)
            #expect(local.log.contains("running: 1") && local.log.contains("sleeper_i0.tar.xz"), "\(local.log)")
            runners[first].signal(SIGKILL)
            _ = await runners[first].wait(timeout: .seconds(10))
            // Its QEMU outlives it (libvirt's embedded driver died with it); a restarted runner
            // would destroy it, and none restarts here.
            Self.killVMs(using: "\(dir)/state-\(["runner-a", "runner-b"][first])/")
            let other = runners[1 - first]
            let result = try await tree.sleeperResult(logs: [other, hub])
            #expect(result.attempt == 2)
            #expect(result.runnerID == ["runner-a", "runner-b"][1 - first])
            #expect(hub.log.contains("lease ran out"))
            await tree.stop([other, hub])
        }
    }

    @Test func aHubRestartedMidJobLosesNothing() async throws {
        try requireImage0()
        try await HubTree.with { tree in
            let dir = tree.dir
            let (hub, url) = try await tree.startSleeperHub(lease: "30s", seconds: 6)
            let runner = try tree.startRunner("runner-a", url: url, log: "\(dir)/a.log")
            try await tree.waitForClaim(runner)
            hub.signal(SIGKILL)
            _ = await hub.wait(timeout: .seconds(10))
            // The hub stays away until the runner has tried to deliver and failed: the result
            // waits on the runner's disk and is sent once the hub is back.
            let deadline = ContinuousClock.now + .seconds(120)
            while !runner.log.contains("cannot deliver job") {
                guard ContinuousClock.now < deadline else { throw ConstruirTestError("the runner never tried to deliver:\n\(runner.log)") }
                try await Task.sleep(for: .milliseconds(100))
            }
            let port = Int(url.split(separator: ":").last!)!
            let (restarted, _) = try await tree.startHub(lease: "30s", port: port, log: "\(dir)/hub2.log")
            let result = try await tree.sleeperResult(logs: [runner, restarted])
            tree.expectSleptOnce(result, on: "runner-a")
            await tree.stop([runner, restarted])
        }
    }

    @Test func aRunnerThatDiedWithAResultNotYetSentSendsItWhenStartedAgain() async throws {
        try requireImage0()
        try await HubTree.with { tree in
            let dir = tree.dir
            let (hub, url) = try await tree.startSleeperHub(lease: "60s", seconds: 1)
            // Killed right after result.json is committed, before anything is uploaded.
            let first = try tree.startRunner("runner-a", url: url, log: "\(dir)/a.log", environment: ["CONSTRUIR_CRASH_AT": "result-written"])
            let exit = await first.wait(timeout: .seconds(180))
            #expect(exit?.reason == .uncaughtSignal, "\(first.log)")
            #expect(tree.results().isEmpty)
            let again = try tree.startRunner("runner-a", url: url, log: "\(dir)/a2.log")
            let result = try await tree.sleeperResult(logs: [again, hub])
            tree.expectSleptOnce(result, on: "runner-a")
            await tree.stop([again, hub])
        }
    }

    @Test func aRunnerStoppedWithSIGTERMGivesTheJobBackWithoutCountingAnAttempt() async throws {
        try requireImage0()
        try await HubTree.with { tree in
            let dir = tree.dir
            let (hub, url) = try await tree.startSleeperHub(lease: "30s", seconds: 8)
            let names = ["runner-a", "runner-b"]
            let runners = try names.map { try tree.startRunner($0, url: url, log: "\(dir)/\($0).log", extra: ["--grace", "0s"]) }
            let first = try await tree.waitForFirstClaim(runners)
            runners[first].signal(SIGTERM)
            let exit = await runners[first].wait(timeout: .seconds(60))
            #expect(exit?.status == 0, "\(runners[first].log)")
            #expect(hub.log.contains("runner gave a job back"), "\(hub.log)")
            #expect(FileManager.default.contentsOfDirectory(atPath: "\(dir)/state-\(names[first])/running", default: []).isEmpty)
            let other = runners[1 - first]
            let result = try await tree.sleeperResult(logs: [other, hub])
            #expect(result.attempt == 1)
            #expect(result.runnerID == names[1 - first])
            await tree.stop([other, hub])
        }
    }
}
}

extension FileManager {
    func contentsOfDirectory(atPath path: String, default: [String]) -> [String] {
        (try? contentsOfDirectory(atPath: path)) ?? `default`
    }
}
