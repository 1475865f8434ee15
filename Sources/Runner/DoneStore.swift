import ConstruirSystem
import Foundation

/// The done/ directory: one directory per finished job, never overwriting an earlier one.
public struct DoneStore: Sendable {
    public let directory: String
    /// The file that pins a job directory: `--keep-done` never removes `done/NAME` holding it.
    public static let pinFile = ".pinned"

    public init(directory: String) throws {
        self.directory = directory
        try FileSystem.makeDirectory(directory)
    }

    /// Moves a finished job's directory to `done/NAME` (or `NAME.2`, `NAME.3`, ... when taken)
    /// in one rename, and returns where it went. When done/ is on another filesystem the
    /// directory is copied to a hidden staging name, flushed, then renamed into place; a
    /// `publishing` marker in the source names the staging copy, so a runner that dies midway
    /// knows at restart whether the job reached done/ (see `finishInterruptedPublish`).
    public func publish(_ source: String, name: String) throws -> String {
        for attempt in 1...10_000 {
            let target = attempt == 1 ? "\(directory)/\(name)" : "\(directory)/\(name).\(attempt)"
            let failure: SystemError
            do {
                try FileSystem.renameNoReplace(source, target)
                try? FileSystem.fsync(path: directory)
                try? FileSystem.fsyncParent(of: source)
                return target
            } catch {
                failure = error
            }
            switch failure.errno {
            case EEXIST, ENOTEMPTY: continue
            case EXDEV: return try publishAcrossFilesystems(source, name: name)
            default: throw failure
            }
        }
        throw ConstruirError(.limitExceeded, "done/ already holds 10000 jobs named \(name)")
    }

    static let publishingMarker = "publishing"

    private func publishAcrossFilesystems(_ source: String, name: String) throws -> String {
        let staging = "\(directory)/.incoming-\((source as NSString).lastPathComponent)"
        try? FileManager.default.removeItem(atPath: staging)
        try staging.write(toFile: "\(source)/\(Self.publishingMarker)", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: source, toPath: staging)
        try? FileManager.default.removeItem(atPath: "\(staging)/\(Self.publishingMarker)")
        try Self.fsyncTree(staging)
        let target = try publish(staging, name: name)
        try FileManager.default.removeItem(atPath: source)
        return target
    }

    /// For a running directory left by a dead runner: true when it had already been copied into
    /// done/ (the staging copy named by its marker is gone, so it was renamed into place), in
    /// which case the directory is removed; false when publishing must be done again.
    public func finishInterruptedPublish(of source: String) -> Bool {
        let marker = "\(source)/\(Self.publishingMarker)"
        guard let staging = try? String(contentsOfFile: marker, encoding: .utf8) else { return false }
        if FileSystem.exists(staging) {
            try? FileManager.default.removeItem(atPath: staging)
            try? FileManager.default.removeItem(atPath: marker)
            return false
        }
        try? FileManager.default.removeItem(atPath: source)
        return true
    }

    /// Removes what a runner that died left in done/: directories being removed by
    /// `--keep-done`. (Staging copies are resolved through their job's marker.)
    public func removeLeftovers() {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where entry.hasPrefix(".removing-") {
            try? FileManager.default.removeItem(atPath: "\(directory)/\(entry)")
        }
    }

    /// One finished job as `--keep-done` sees it.
    struct Entry {
        var name: String
        var bytes: Int64
        var finished: TimeInterval
        var pinned: Bool
    }

    /// Removes the oldest job directories until done/ holds at most `maxBytes` (allocated
    /// space), skipping pinned ones and never removing `keeping` (the job just published).
    /// Each directory is first renamed to a hidden name, so a half-removed job never shows as
    /// a job. Returns the names removed.
    @discardableResult
    public func curate(maxBytes: Int64, keeping: String? = nil) -> [String] {
        var entries: [Entry] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where !name.hasPrefix(".") {
            let path = "\(directory)/\(name)"
            guard FileSystem.isDirectory(path) else { continue }
            var st = stat()
            let finished = lstat("\(path)/result.json", &st) == 0 ? Double(st.st_mtim.tv_sec) : JobQueue.modificationTime(of: path)
            entries.append(Entry(name: name, bytes: Self.allocatedBytes(path), finished: finished,
                                 pinned: FileSystem.exists("\(path)/\(Self.pinFile)")))
        }
        var total = entries.reduce(0) { $0 + $1.bytes }
        var removed: [String] = []
        for entry in entries.sorted(by: { ($0.finished, $0.name) < ($1.finished, $1.name) }) where total > maxBytes {
            if entry.pinned || entry.name == keeping { continue }
            let hidden = "\(directory)/.removing-\(entry.name)"
            guard (try? FileSystem.renameNoReplace("\(directory)/\(entry.name)", hidden)) != nil else { continue }
            try? FileManager.default.removeItem(atPath: hidden)
            total -= entry.bytes
            removed.append(entry.name)
        }
        return removed
    }

    /// Disk space used below `path` (st_blocks, so sparse files count what they occupy);
    /// symlinks are not followed.
    static func allocatedBytes(_ path: String) -> Int64 {
        var total: Int64 = 0
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        total += Int64(st.st_blocks) * 512
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                total += allocatedBytes("\(path)/\(entry)")
            }
        }
        return total
    }

    /// fsync of every file and directory below `path`, so a copy is on disk before it is
    /// renamed into place.
    static func fsyncTree(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            for entry in try FileManager.default.contentsOfDirectory(atPath: path) { try fsyncTree("\(path)/\(entry)") }
            try FileSystem.fsync(path: path)
        case S_IFREG:
            try FileSystem.fsync(path: path)
        default:
            break
        }
    }
}
