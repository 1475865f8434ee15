import ConstruirSystem
import Foundation
import Synchronization

/// Reads queue/, running/ and done/ into a `QueueSnapshot`. A result.json never changes once it
/// is in done/, so decoded results are kept (keyed by directory, inode and mtime) and a page or
/// metrics scrape does not re-read thousands of files.
package final class QueueObserver: Sendable {
    package let queueDirectory: String
    package let runningDirectory: String
    /// Where runners keep their locks and `RunnerRecord`s.
    package let runnersDirectory: String
    package let doneDirectory: String
    package let defaultImage: Int
    /// Decoded results by done/ directory, with the identity of the result.json they came from.
    private let results = Mutex<[String: (key: String, result: JobResult)]>([:])

    /// `stateDirectory` nil means `QUEUE/.construir`, as `construir run` uses.
    package init(queueDirectory: String, doneDirectory: String, stateDirectory: String? = nil, defaultImage: Int = 0) {
        self.queueDirectory = FileSystem.absolute(queueDirectory)
        self.doneDirectory = FileSystem.absolute(doneDirectory)
        let state = FileSystem.absolute(stateDirectory ?? "\(queueDirectory)/.construir")
        self.runningDirectory = "\(state)/running"
        self.runnersDirectory = "\(state)/runners"
        self.defaultImage = defaultImage
    }

    /// The state now. `doneLimit` keeps only the most recently finished jobs (nil: all).
    package func snapshot(now: Date = Date(), doneLimit: Int? = nil) -> QueueSnapshot {
        let done = doneJobs()
        let pauses = RunnerPause.readAll(in: runnersDirectory)
        var snapshot = QueueSnapshot(
            taken: now, queueDirectory: queueDirectory, doneDirectory: doneDirectory,
            queued: queued(), running: running(now: now, pauses: pauses),
            done: doneLimit.map { Array(done.prefix(max(0, $0))) } ?? done, doneTotal: done.count)
        snapshot.pausedRunners = pauses.values.sorted { $0.runner < $1.runner }
        snapshot.warmVMs = RunnerWarmVMs.readAll(in: runnersDirectory).values.sorted { $0.runner < $1.runner }
        return snapshot
    }

    /// The waiting jobs in the order a runner picks them up (`QueueListing.pending(in:)`).
    package func queued() -> [QueueSnapshot.Queued] {
        guard FileSystem.isDirectory(queueDirectory) else { return [] }
        return QueueListing.pending(in: queueDirectory).enumerated().compactMap { index, job in
            var st = stat()
            guard lstat("\(queueDirectory)/\(job.fileName)", &st) == 0 else { return nil }
            return QueueSnapshot.Queued(
                position: index + 1, file: job.fileName, name: job.name, image: job.image(default: defaultImage),
                queued: Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9),
                size: Int64(st.st_size))
        }
    }

    /// The claimed jobs, oldest claim first. Uses `claim.json` when a runner wrote one, else
    /// `source-name` and the running directory's mtime (the moment of the claim).
    package func running(now: Date = Date()) -> [QueueSnapshot.Running] {
        running(now: now, pauses: RunnerPause.readAll(in: runnersDirectory))
    }

    private func running(now: Date, pauses: [String: RunnerPause]) -> [QueueSnapshot.Running] {
        let ids = (try? FileManager.default.contentsOfDirectory(atPath: runningDirectory)) ?? []
        var jobs: [QueueSnapshot.Running] = []
        for id in ids where !id.hasPrefix(".") {
            let directory = "\(runningDirectory)/\(id)"
            var st = stat()
            guard lstat(directory, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { continue }
            // claim.json as JobQueue.claim writes it; runners before it wrote only source-name.
            let claim = (try? Data(contentsOf: URL(fileURLWithPath: "\(directory)/claim.json"))).flatMap { try? ClaimRecord.decode($0) }
            let file = claim?.job
                ?? (try? String(contentsOfFile: "\(directory)/source-name", encoding: .utf8))?.trimmingCharacters(in: .newlines)
            // A directory without a job name is one a runner is creating or removing.
            guard let file, let name = JobName(fileName: file) else { continue }
            let claimed = claim?.claimed
                ?? Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
            jobs.append(QueueSnapshot.Running(
                id: id, file: file, name: name.name, image: name.image(default: defaultImage),
                slot: claim?.slot, runner: claim?.runner, host: claim?.host, pid: claim.map { Int($0.pid) }, attempt: claim?.attempt,
                claimed: claimed, elapsed: max(0, now.timeIntervalSince(claimed)), fromClaimRecord: claim != nil,
                unpublished: PublishFailure.read(in: directory),
                paused: claim.flatMap { pauses[$0.runner] }.flatMap { $0.suspendsVMs ? $0.summary : nil }))
        }
        return jobs.sorted { $0.claimed != $1.claimed ? $0.claimed < $1.claimed : $0.id < $1.id }
    }

    /// Every job in done/ that has a readable result.json, most recently finished first.
    package func doneJobs() -> [QueueSnapshot.Done] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: doneDirectory)) ?? []
        var jobs: [QueueSnapshot.Done] = []
        var seen = Set<String>()
        for name in names where QueueObserver.isDoneName(name) {
            guard let result = result(directory: name) else { continue }
            seen.insert(name)
            jobs.append(.init(directory: name, result: result))
        }
        results.withLock { $0 = $0.filter { seen.contains($0.key) } }
        return jobs.sorted {
            $0.result.timestamps.finished != $1.result.timestamps.finished
                ? $0.result.timestamps.finished > $1.result.timestamps.finished : $0.directory < $1.directory
        }
    }

    /// The result of `done/NAME`, or nil when there is no such job or its result.json is unreadable.
    package func result(directory name: String) -> JobResult? {
        guard QueueObserver.isDoneName(name) else { return nil }
        let path = "\(doneDirectory)/\(name)/\(JobFiles.result)"
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        let key = "\(st.st_ino):\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)"
        let cached = results.withLock { $0[name] }
        if let cached, cached.key == key { return cached.result }
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: path)),
              let result = try? JobResult.decode(data) else { return nil }
        results.withLock { $0[name] = (key, result) }
        return result
    }

    /// Where a job named on the command line is.
    package enum Location: Sendable, Equatable {
        case done(QueueSnapshot.Done)
        case running(QueueSnapshot.Running)
        case queued(QueueSnapshot.Queued)
    }

    /// Finds the job `query` names: a directory of done/ (`hello`, `hello.2`), a running
    /// directory's ID, or a job's file name (`hello_i0.tar.xz`) or name (`hello`) in running/,
    /// done/ (the most recently finished) or the queue. When a name matches both a running and a
    /// done job, `preferRunning` picks the running one (what `logs --follow` wants).
    package func locate(_ query: String, preferRunning: Bool = false) -> Location? {
        let running = self.running()
        let runningMatch = running.first { $0.id == query }
            ?? running.last { $0.file == query || $0.name == query }
        if preferRunning, let runningMatch { return .running(runningMatch) }
        if let result = result(directory: query) { return .done(.init(directory: query, result: result)) }
        if let runningMatch { return .running(runningMatch) }
        if let done = doneJobs().first(where: { $0.result.job == query || $0.result.name == query }) { return .done(done) }
        if let queued = queued().first(where: { $0.file == query || $0.name == query }) { return .queued(queued) }
        return nil
    }

    /// Whether `name` can be a directory that `DoneStore` publishes: a job's safe name, maybe
    /// with `.N`; never empty, `.`/`..`, hidden (staging directories) or holding a slash.
    package static func isDoneName(_ name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix("."), name.utf8.count <= 255 else { return false }
        return SafeName.isSafe(name)
    }
}
