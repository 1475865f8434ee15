import ConstruirSystem
import Foundation

/// The done/ directory: one directory per finished job, never overwriting an earlier one.
package struct DoneStore: Sendable {
    package let directory: String
    /// The file that pins a job directory: `--keep-done` never removes `done/NAME` holding it.
    package static let pinFile = ".pinned"

    package init(directory: String) throws {
        self.directory = directory
        try FileSystem.makeDirectory(directory)
    }

    /// Moves a finished job's directory to `done/NAME` (or `NAME.2`, `NAME.3`, ... when taken)
    /// in one rename, and returns where it went. When done/ is on another filesystem the
    /// directory is copied to a hidden staging name, flushed, then renamed into place; a
    /// `publishing` marker in the source names the staging copy, so a runner that dies midway
    /// knows at restart whether the job reached done/ (see `finishInterruptedPublish`).
    package func publish(_ source: String, name: String) throws -> String {
        for attempt in 1...10_000 {
            let target = attempt == 1 ? "\(directory)/\(name)" : "\(directory)/\(name).\(attempt)"
            let failure: SystemError
            do {
                try FileSystem.renameNoReplace(source, target)
                for own in Self.runnerRecords { try? FileManager.default.removeItem(atPath: "\(target)/\(own)") }
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
    /// The runner's record of failed publishes in a job's running directory (`PublishFailure`);
    /// it describes the job's stay in running/, so it never goes to done/.
    package static let failureRecord = JobFiles.publishFailure
    /// What a running directory holds about the job's stay there and not about the job: a
    /// failed publish's record and a kill request (result.json says the job was killed).
    static let runnerRecords = [failureRecord, KillRequest.fileName]

    private func publishAcrossFilesystems(_ source: String, name: String) throws -> String {
        let staging = "\(directory)/\(Self.stagingPrefix)\((source as NSString).lastPathComponent)"
        let marker = "\(source)/\(Self.publishingMarker)"
        try? FileManager.default.removeItem(atPath: staging)
        let target: String
        do {
            try staging.write(toFile: marker, atomically: true, encoding: .utf8)
            try FileManager.default.copyItem(atPath: source, toPath: staging)
            for own in [Self.publishingMarker] + Self.runnerRecords {
                try? FileManager.default.removeItem(atPath: "\(staging)/\(own)")
            }
            try Self.fsyncTree(staging)
            target = try publish(staging, name: name)
        } catch {
            // The marker goes first: a runner restarted in between must not take a missing
            // staging copy for a finished publish. A half copy must not keep done/ full.
            try? FileManager.default.removeItem(atPath: marker)
            try? FileManager.default.removeItem(atPath: staging)
            throw classify(error, publishing: source)
        }
        // The job is in done/ now; a source left behind (its marker names a staging copy that
        // is gone) is removed by `finishInterruptedPublish` at the next start.
        try? FileManager.default.removeItem(atPath: source)
        return target
    }

    /// A failed copy as a `ConstruirError`: `.noSpace` when done/'s filesystem or quota is full,
    /// so the runner can wait for space instead of treating it as a broken job.
    func classify(_ error: any Error, publishing source: String) -> ConstruirError {
        if let error = error as? ConstruirError { return error }
        let needed = Self.copyBytes(source)
        guard Self.isOutOfSpace(error) else {
            return ConstruirError(.system, "cannot copy \(source) to \(directory)", cause: error)
        }
        let free = (try? space().available).map { Units.formatBytes($0) } ?? "unknown"
        return ConstruirError(.noSpace, "done/ (\(directory)) is out of space: the job needs \(Units.formatBytes(needed)), \(free) free",
                              cause: error)
    }

    /// ENOSPC or EDQUOT, however Foundation or the system call wrapper reports it.
    static func isOutOfSpace(_ error: any Error) -> Bool {
        if let error = error as? SystemError { return error.errno == ENOSPC || error.errno == EDQUOT }
        if let error = error as? CocoaError, error.code == .fileWriteOutOfSpace { return true }
        let ns = error as NSError
        if ns.domain == NSPOSIXErrorDomain, ns.code == Int(ENOSPC) || ns.code == Int(EDQUOT) { return true }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? any Error { return isOutOfSpace(underlying) }
        return false
    }

    /// Free and total bytes of done/'s filesystem, as an unprivileged writer sees them (blocks
    /// reserved for root are counted in neither).
    package struct Space: Sendable, Equatable {
        package var available: Int64
        package var capacity: Int64
    }

    package func space() throws(SystemError) -> Space {
        var st = statvfs()
        try systemCall("statvfs", path: directory) { statvfs(directory, &st) }
        let unit = Int64(st.f_frsize)
        let reserved = Int64(st.f_bfree) - Int64(st.f_bavail)
        return Space(available: Int64(st.f_bavail) * unit, capacity: (Int64(st.f_blocks) - reserved) * unit)
    }

    /// Whether `path` is on done/'s filesystem: then publishing is a rename and needs no space.
    package func isOnSameFilesystem(_ path: String) -> Bool {
        var a = stat(), b = stat()
        return lstat(path, &a) == 0 && stat(directory, &b) == 0 && a.st_dev == b.st_dev
    }

    /// What copying `path` writes: every regular file's length and one 4 KiB block per
    /// directory, rounded up to 4 KiB (sparse files are written out in full by the copy).
    static func copyBytes(_ path: String) -> Int64 {
        treeBytes(path) { st in
            (st.st_mode & S_IFMT) == S_IFREG ? (Int64(st.st_size) + 4095) / 4096 * 4096 : 4096
        }
    }

    /// For a running directory left by a dead runner: true when it had already been copied into
    /// done/ (the staging copy named by its marker is gone, so it was renamed into place), in
    /// which case the directory is removed; false when publishing must be done again.
    package func finishInterruptedPublish(of source: String) -> Bool {
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
    /// `--keep-done`, and staging copies no job's `publishing` marker in `runningDirectory`
    /// names any more (a publish that failed and was cut short before it removed its copy).
    /// A staging copy whose marker is still there is resolved through it instead, at takeover.
    package func removeLeftovers(runningDirectory: String? = nil) {
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            if entry.hasPrefix(".removing-") {
                try? FileManager.default.removeItem(atPath: "\(directory)/\(entry)")
            } else if let runningDirectory, entry.hasPrefix(Self.stagingPrefix) {
                let id = entry.dropFirst(Self.stagingPrefix.count)
                if !FileSystem.exists("\(runningDirectory)/\(id)/\(Self.publishingMarker)") {
                    try? FileManager.default.removeItem(atPath: "\(directory)/\(entry)")
                }
            }
        }
    }

    static let stagingPrefix = ".incoming-"

    /// One finished job as `--keep-done` sees it.
    struct Entry {
        var name: String
        var bytes: Int64
        var finished: TimeInterval
        var pinned: Bool
    }

    /// Removes the oldest job directories until done/ holds at most `maxBytes` (allocated
    /// space), and those finished before `olderThan`, skipping pinned ones and never removing
    /// `keeping` (the job just published). Each directory is first renamed to a hidden name, so
    /// a half-removed job never shows as a job. Returns the names removed.
    @discardableResult
    package func curate(maxBytes: Int64 = .max, olderThan cutoff: Date? = nil, keeping: String? = nil) -> [String] {
        var entries: [Entry] = []
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where !name.hasPrefix(".") {
            let path = "\(directory)/\(name)"
            guard FileSystem.isDirectory(path) else { continue }
            var st = stat()
            let finished = lstat("\(path)/\(JobFiles.result)", &st) == 0 ? Double(st.st_mtim.tv_sec) : FileSystem.modificationTime(of: path)
            entries.append(Entry(name: name, bytes: Self.allocatedBytes(path), finished: finished,
                                 pinned: FileSystem.exists("\(path)/\(Self.pinFile)")))
        }
        var total = entries.reduce(0) { $0 + $1.bytes }
        let oldest = cutoff?.timeIntervalSince1970 ?? -.infinity
        var removed: [String] = []
        for entry in entries.sorted(by: { ($0.finished, $0.name) < ($1.finished, $1.name) }) where total > maxBytes || entry.finished < oldest {
            if entry.pinned || entry.name == keeping { continue }
            let hidden = "\(directory)/.removing-\(entry.name)"
            guard (try? FileSystem.renameNoReplace("\(directory)/\(entry.name)", hidden)) != nil else { continue }
            try? FileManager.default.removeItem(atPath: hidden)
            total -= entry.bytes
            removed.append(entry.name)
        }
        return removed
    }

    /// Pins done/`name`: `curate` never removes it. `pinned: false` unpins it.
    package func pin(_ name: String, pinned: Bool = true) throws(ConstruirError) {
        guard SafeName.isSafe(name), !name.hasPrefix("."), FileSystem.isDirectory("\(directory)/\(name)") else {
            throw ConstruirError(.notFound, "no job \(name) in \(directory)")
        }
        let path = "\(directory)/\(name)/\(Self.pinFile)"
        do {
            if pinned {
                try FileSystem.writeDurably(Data(), to: path, mode: 0o600)
            } else if FileSystem.exists(path) {
                try FileManager.default.removeItem(atPath: path)
            }
        } catch {
            throw ConstruirError(.system, "cannot \(pinned ? "pin" : "unpin") \(name)", cause: error)
        }
    }

    /// Disk space used below `path` (st_blocks, so sparse files count what they occupy).
    static func allocatedBytes(_ path: String) -> Int64 {
        treeBytes(path) { Int64($0.st_blocks) * 512 }
    }

    /// The sum of `measure` over `path` and everything below it; symlinks are not followed.
    private static func treeBytes(_ path: String, _ measure: (stat) -> Int64) -> Int64 {
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        var total = measure(st)
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                total += treeBytes("\(path)/\(entry)", measure)
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
