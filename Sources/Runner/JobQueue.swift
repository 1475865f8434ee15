import ConstruirSystem
import Foundation

/// A job taken from the queue: its file now lives in its own running directory.
public struct ClaimedJob: Sendable {
    public let name: JobName
    /// `STATE/running/ID/`: everything about this job until it is published to done/.
    public let directory: String
    /// When the job file was written into the queue (its mtime).
    public let queuedAt: Date

    /// The submitted job image, kept unchanged.
    public var jobPath: String { "\(directory)/job.tar.xz" }
    public var id: String { (directory as NSString).lastPathComponent }
}

/// The queue directory and the runner's state directory beside it.
///
/// A job is claimed by one rename from `queue/NAME.tar.xz` to `STATE/running/ID/job.tar.xz`:
/// the state directory must be on the same filesystem, so at every moment the job file is in
/// exactly one place, and a rename that fails means another runner took it.
public struct JobQueue: Sendable {
    public let queueDirectory: String
    public let runningDirectory: String

    public init(queueDirectory: String, stateDirectory: String) throws {
        self.queueDirectory = queueDirectory
        self.runningDirectory = "\(stateDirectory)/running"
        guard FileSystem.isDirectory(queueDirectory) else {
            throw ConstruirError(.notFound, "queue directory \(queueDirectory) does not exist")
        }
        // Traversable but not listable: under qemu:///system, QEMU runs as another user and
        // must reach the job's files, which libvirt hands to that user.
        try FileSystem.makeDirectory(runningDirectory, mode: 0o711)
        chmod(stateDirectory, 0o711)
        chmod(runningDirectory, 0o711)
    }

    /// The jobs waiting in the queue, oldest first (by mtime, then name).
    public func pending() -> [JobName] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: queueDirectory)) ?? []
        var jobs: [(JobName, Double)] = []
        for fileName in names {
            guard let job = JobName(fileName: fileName) else { continue }
            var st = stat()
            guard lstat("\(queueDirectory)/\(fileName)", &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
            jobs.append((job, Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9))
        }
        return jobs.sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0.fileName < $1.0.fileName }.map(\.0)
    }

    /// Claims `job`; nil when it is no longer in the queue (another runner took it).
    public func claim(_ job: JobName) throws -> ClaimedJob? {
        let source = "\(queueDirectory)/\(job.fileName)"
        var st = stat()
        guard lstat(source, &st) == 0 else { return nil }
        let queuedAt = Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
        let directory = "\(runningDirectory)/\(Self.newID(for: job))"
        try FileSystem.makeDirectory(directory, mode: 0o755)
        try job.fileName.write(toFile: "\(directory)/source-name", atomically: false, encoding: .utf8)
        do {
            try FileSystem.renameNoReplace(source, "\(directory)/job.tar.xz")
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            if error.errno == ENOENT { return nil }
            throw error
        }
        try? FileSystem.fsyncParent(of: directory + "/job.tar.xz")
        try? FileSystem.fsync(path: queueDirectory)
        return ClaimedJob(name: job, directory: directory, queuedAt: queuedAt)
    }

    /// Puts a claimed job's file back in the queue under its original name (used when the runner
    /// stops before the job finished) and removes its running directory.
    public func requeue(_ job: ClaimedJob) throws {
        try requeue(directory: job.directory, fileName: job.name.fileName)
    }

    /// Returns jobs left in running/ by a runner that died back to the queue; removes the rest.
    /// Returns the file names that were requeued.
    @discardableResult
    public func recoverInterrupted() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: runningDirectory)) ?? []
        var requeued: [String] = []
        for id in entries.sorted() {
            let directory = "\(runningDirectory)/\(id)"
            let original = (try? String(contentsOfFile: "\(directory)/source-name", encoding: .utf8)) ?? ""
            if FileSystem.exists("\(directory)/job.tar.xz"), JobName(fileName: original) != nil {
                if (try? requeue(directory: directory, fileName: original)) != nil { requeued.append(original) }
            } else if !FileSystem.exists("\(directory)/job.tar.xz") {
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        return requeued
    }

    private func requeue(directory: String, fileName: String) throws {
        var target = "\(queueDirectory)/\(fileName)"
        var attempt = 1
        while true {
            do {
                try FileSystem.renameNoReplace("\(directory)/job.tar.xz", target)
                break
            } catch {
                guard error.errno == EEXIST, attempt < 100 else { throw error }
                attempt += 1
                let stem = fileName.dropLast(JobName.suffix.count)
                target = "\(queueDirectory)/\(stem)-requeued\(attempt)\(JobName.suffix)"
            }
        }
        try? FileSystem.fsync(path: queueDirectory)
        try FileManager.default.removeItem(atPath: directory)
    }

    private static let counter = Counter()

    static func newID(for job: JobName) -> String {
        let stamp = Int(Date().timeIntervalSince1970 * 1000)
        return "\(stamp)-\(getpid())-\(counter.next())-\(job.safeName.prefix(40))"
    }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock(); defer { lock.unlock() }
        value += 1
        return value
    }
}
