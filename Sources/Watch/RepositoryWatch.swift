import AsyncHTTPClient
import ConstruirSystem
import Foundation
import JobModel
import Logging
import Packager

/// Watches one repository: polls it, queues each new commit of a watched ref exactly once
/// (see `WatchState`), and sends the reports its jobs owe. Its failures stay its own: the
/// other repositories' watches go on.
package struct RepositoryWatch: Sendable {
    package let repository: WatchRepository
    package let stateFile: WatchStateFile
    let poller: RepositoryPoller
    let destination: WatchDestination
    let settings: WatchSettings
    let http: HTTPClient
    let logger: Logger

    package init(repository: WatchRepository, destination: WatchDestination, settings: WatchSettings, http: HTTPClient,
                 logger: Logger) throws(ConstruirError) {
        self.repository = repository
        stateFile = try WatchStateFile(path: "\(settings.repos)/\(repository.key).json", url: repository.url)
        poller = RepositoryPoller(repository: repository, stateDirectory: settings.stateDirectory)
        self.destination = destination
        self.settings = settings
        self.http = http
        var logger = logger
        logger[metadataKey: "repository"] = "\(repository.url)"
        self.logger = logger
    }

    /// Polls until cancelled, waiting `every` after a poll that worked and backing off after
    /// one that did not.
    package func run() async {
        while !Task.isCancelled {
            let wait = await poll()
            try? await Task.sleep(for: wait)
        }
    }

    /// One poll: finishes what a previous run left half done, then queues the new commits of
    /// every watched ref that moved. Returns how long to wait before the next.
    @discardableResult
    package func poll() async -> Duration {
        let started = Date()
        do {
            try await finishIntents()
            let poller = self.poller
            let remote = try await OwnThread.run("construir-watch-ls-remote") {
                try poller.prepareMirror()
                return try poller.remoteRefs()
            }
            let moves = stateFile.state.moves(remote: remote, watches: repository.watches)
            if !moves.isEmpty {
                let tips = try await OwnThread.run("construir-watch-fetch") { try poller.fetch(moves.map(\.ref)) }
                for var move in moves {
                    move.new = tips[move.ref] ?? move.new
                    try await handle(move)
                }
            }
            try await stateFile.update { $0.recordSuccess(at: started, next: started.addingTimeInterval(settings.every.seconds)) }
            return settings.every
        } catch {
            let failures = stateFile.state.health.failures + 1
            let wait = WatchState.backoff(failures: failures, base: settings.retryBase, cap: settings.retryCap)
            logger.error("poll failed; retrying later", metadata: ["error": "\(error)", "failures": "\(failures)", "retry_in": "\(Units.format(wait))"])
            try? await stateFile.update { $0.recordFailure("\(error)", at: started, next: started.addingTimeInterval(wait.seconds)) }
            return wait
        }
    }

    /// Queues the commits a moved ref brought, oldest first, then records the ref as handled.
    private func handle(_ move: WatchState.Move) async throws {
        let poller = self.poller
        var between: [String] = []
        if let old = move.old, stateFile.state.initialized {
            between = try await OwnThread.run("construir-watch-rev-list") { try poller.commits(after: old, upTo: move.new) }
            if between.isEmpty, old != move.new {
                logger.warning("the old tip is not in the mirror: building only the new one", metadata: ["ref": "\(move.ref)", "old": "\(old)"])
                between = [move.new]
            }
        }
        for commit in stateFile.state.candidates(for: move, between: between) {
            try await build(commit, ref: move.ref)
        }
        try await stateFile.update { $0.advance(move.ref, to: move.new) }
    }

    /// Packages `commit` into `STATE/outgoing`, records the intent, and hands the jobs over.
    private func build(_ commit: String, ref: String) async throws {
        let poller = self.poller
        if let reason = try await OwnThread.run("construir-watch-condition", { try poller.unmetCondition(commit) }) {
            logger.info("commit skipped: \(reason)", metadata: ["ref": "\(ref)", "commit": "\(commit)"])
            return
        }
        let outgoing = settings.outgoing, images = settings.imagesDirectory, logger = self.logger
        let result: PackageResult
        do {
            result = try await OwnThread.run("construir-watch-package") {
                try poller.package(commit, ref: ref, into: outgoing, imagesDirectory: images, logger: logger)
            }
        } catch let error as ConstruirError where error.code == .invalidArgument {
            // The commit itself cannot be a job (no construir script, a bad construir.yml):
            // trying again will not change that.
            logger.error("commit not packaged: \(error)", metadata: ["ref": "\(ref)", "commit": "\(commit)"])
            return
        }
        let jobs = result.files.map { ($0 as NSString).lastPathComponent }
        CrashPoint.reach("watch-packaged")
        try await stateFile.update { $0.intend(commit, ref: ref, jobs: jobs) }
        CrashPoint.reach("watch-intended")
        try await finish(WatchState.Intent(commit: commit, ref: ref, jobs: jobs))
    }

    /// Intents a previous run recorded and did not finish (it stopped or crashed meanwhile).
    private func finishIntents() async throws {
        for intent in stateFile.state.intents {
            logger.info("finishing a hand-over an earlier run began", metadata: ["commit": "\(intent.commit)"])
            try await finish(intent)
        }
    }

    /// Sends each of the intent's jobs (again: sending one already sent does nothing), then
    /// records the commit as queued. A hub's id is recorded before its outgoing file goes.
    private func finish(_ intent: WatchState.Intent) async throws {
        for job in intent.jobs {
            let known = stateFile.state.intents.first { $0.commit == intent.commit }?.hubIDs[job]
            let id = try await destination.send(job, from: settings.outgoing, knownID: known)
            if let id, known == nil {
                try await stateFile.update { state in
                    if let index = state.intents.firstIndex(where: { $0.commit == intent.commit }) { state.intents[index].hubIDs[job] = id }
                }
            }
            if case .hub = destination { unlink("\(settings.outgoing)/\(job)") }
        }
        CrashPoint.reach("watch-sent")
        try await stateFile.update {
            $0.recordQueued(intent.commit, ref: intent.ref, jobs: intent.jobs, at: Date(), reporting: repository.report != nil)
        }
        logger.info("queued", metadata: ["ref": "\(intent.ref)", "commit": "\(intent.commit)", "jobs": "\(intent.jobs.joined(separator: ","))"])
    }
}
