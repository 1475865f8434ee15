import ArgumentParser
import ConstruirSystem
import Foundation
import JobModel
import Runner

/// `construir kill JOB`
package struct KillCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "kill",
        abstract: "Stop a queued or running job; it ends in done/ as killed.",
        discussion: """
        JOB is named as for `construir logs`; a queued or running job is preferred over a done one \
        of the same name. A queued job is taken out of the queue and published to done/ as killed \
        without booting. A running job's runner is asked to stop it (a `kill` file in its running \
        directory): it destroys the VM within about a second, keeps the console log and what output \
        the guest wrote, and publishes the job as killed. kill then waits for the job's result in \
        done/ and prints it. Exits 0 when the job was killed, with `construir result`'s code when it \
        ended otherwise first (or was already done), 5 when no result came within --wait, 70 when \
        there is no such job. With --hub, JOB is one of your jobs on the hub: a queued one ends \
        killed at once, a running one's runner learns it within about 5 s.
        """)

    @Argument(help: "The job.") var job: String
    @OptionGroup var location: QueueLocation
    @Option(help: "How long to wait for the job's result in done/, e.g. 60s, 5m.") var wait = "60s"
    /// `--hub`: one of the caller's jobs on a hub.
    @OptionGroup var hubConnection: HubConnection

    package init() {}

    package func run() async throws {
        let wait: Duration
        do {
            wait = try Units.duration(self.wait, allowZero: true)
        } catch {
            throw ValidationError("--wait: \(error)")
        }
        let job = self.job
        if try await hubConnection.run("kill", { try await HubJobCommands.kill(job, $0, wait: wait) }) { return }
        let deadline = ContinuousClock.now + wait
        let observer = location.observer()
        let query = job
        let (found, doneBefore) = try await Self.offPool {
            (Self.resolve(query, in: observer), Set(observer.doneJobs().map(\.directory)))
        }
        let file: String
        switch found {
        case nil:
            throw fail("kill", "no job \(job) in \(observer.doneDirectory), running or queued")
        case .done(let done)?:
            print("\(done.result.job): already done, \(done.result.status.rawValue), \(observer.doneDirectory)/\(done.directory); nothing to kill")
            throw ExitCode(Self.exitCode(done.result.status))
        case .queued(let queued)?:
            file = queued.file
            if try await killQueued(file, observer: observer) { return }
            // A runner claimed it meanwhile: it is a running job now.
            try await requestKill(file: file, observer: observer)
        case .running(let running)?:
            file = running.file
            try await requestKill(id: running.id, observer: observer)
        }

        while true {
            let now = try await Self.offPool {
                (observer.doneJobs().first { !doneBefore.contains($0.directory) && $0.result.job == file },
                 observer.queued().contains { $0.file == file })
            }
            if let done = now.0 {
                print("\(file): \(done.result.status.rawValue), \(observer.doneDirectory)/\(done.directory)")
                if done.result.status == .killed { return }
                throw ExitCode(Self.exitCode(done.result.status))
            }
            // A runner that was stopping returned it to the queue before it saw the request.
            if now.1, try await killQueued(file, observer: observer) { return }
            guard ContinuousClock.now < deadline else {
                FileHandle.standardError.write(Data("construir kill: \(file): asked its runner to stop it; no result in \(observer.doneDirectory) after \(self.wait) (a runner that is not running acts on the request when it starts)\n".utf8))
                throw ExitCode(JobExitCode.noResult)
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// The job `query` names, as `logs` finds it, except that a queued job goes before a done one
    /// of the same name (killing `hello` means the one still to run).
    static func resolve(_ query: String, in observer: QueueObserver) -> QueueObserver.Location? {
        let location = observer.locate(query, preferRunning: true)
        if case .done? = location, let queued = observer.queued().first(where: { $0.file == query || $0.name == query }) {
            return .queued(queued)
        }
        return location
    }

    /// 0 for a killed job, else `result`'s code for its status.
    static func exitCode(_ status: JobResult.Status) -> Int32 {
        status == .killed ? 0 : JobExitCode.code(for: status)
    }

    private func killer(_ observer: QueueObserver) throws -> JobKiller {
        try JobKiller(queueDirectory: observer.queueDirectory,
                      stateDirectory: (observer.runningDirectory as NSString).deletingLastPathComponent,
                      doneDirectory: observer.doneDirectory, defaultImage: location.defaultImage)
    }

    /// Publishes the queued `file` as killed and prints it; false when it was claimed meanwhile.
    private func killQueued(_ file: String, observer: QueueObserver) async throws -> Bool {
        let published: JobPublisher.Published?
        do {
            let killer = try killer(observer)
            published = try await Self.offPool { try killer.killQueued(file) }
        } catch {
            throw fail("kill", "\(error)")
        }
        guard let published else { return false }
        print("\(file): \(published.result?.status.rawValue ?? JobResult.Status.killed.rawValue), \(published.directory)")
        return true
    }

    /// Writes the kill request of the claimed job `file` (the most recent claim of that file).
    private func requestKill(file: String, observer: QueueObserver) async throws {
        guard let running = try await Self.offPool({ observer.running().last { $0.file == file } }) else { return }
        try await requestKill(id: running.id, observer: observer)
    }

    private func requestKill(id: String, observer: QueueObserver) async throws {
        do {
            let killer = try killer(observer)
            // A directory gone meanwhile is a job published meanwhile: the wait finds its result.
            _ = try await Self.offPool { try killer.requestKill(runningID: id) }
        } catch {
            throw fail("kill", "cannot ask the runner to stop the job: \(error)")
        }
    }

    /// Directory reads and the flushed writes of a kill, off the cooperative pool.
    private static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await OwnThread.run("construir-kill", body)
    }
}
