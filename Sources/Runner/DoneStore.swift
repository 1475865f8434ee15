import ConstruirSystem
import Foundation

/// The done/ directory: one directory per finished job, never overwriting an earlier one.
public struct DoneStore: Sendable {
    public let directory: String

    public init(directory: String) throws {
        self.directory = directory
        try FileSystem.makeDirectory(directory)
    }

    /// Moves a finished job's directory to `done/NAME` (or `NAME.2`, `NAME.3`, ... when taken)
    /// in one rename, and returns where it went. Falls back to copy-then-rename when done/ is on
    /// another filesystem.
    public func publish(_ source: String, name: String) throws -> String {
        for attempt in 1...10_000 {
            let target = attempt == 1 ? "\(directory)/\(name)" : "\(directory)/\(name).\(attempt)"
            let failure: SystemError
            do {
                try FileSystem.renameNoReplace(source, target)
                try? FileSystem.fsync(path: directory)
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

    private func publishAcrossFilesystems(_ source: String, name: String) throws -> String {
        let staging = "\(directory)/.incoming-\((source as NSString).lastPathComponent)"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.copyItem(atPath: source, toPath: staging)
        let target = try publish(staging, name: name)
        try FileManager.default.removeItem(atPath: source)
        return target
    }
}
