import ConstruirSystem
import Foundation
import Glibc
import Synchronization

/// Takes a job file out of a queue directory by one rename into a directory of the taker's:
/// the claim rule of the runner's queue (`JobQueue`) and of the hub's intake (`HubBlobs`).
/// Whoever renames first has the job; the others find the file gone and skip it.
package enum QueueClaim {
    /// A new name for a claimed job's directory: time in milliseconds, a random part, and the
    /// job's safe name (shortened) so a listing says what each directory holds.
    package static func newID(for job: JobName, now: Date = Date()) -> String {
        "\(Int(now.timeIntervalSince1970 * 1000))-\(getpid())-\(counter.wrappingAdd(1, ordering: .relaxed).newValue)-"
            + "\(String(UInt16.random(in: 0...UInt16.max), radix: 16))-\(job.safeName.prefix(40))"
    }

    /// Moves `source` to `target` once `prepare` has made `directory` (the one `target` is in)
    /// and written what the claim records there, given when the job was queued (the file's
    /// mtime). Returns that time; nil when the file is gone (another taker renamed it first),
    /// and then `directory` is removed again. Blocking.
    package static func take(_ source: String, to target: String, directory: String,
                            prepare: (_ queuedAt: Date) throws -> Void) throws -> Date? {
        var st = stat()
        guard lstat(source, &st) == 0 else { return nil }
        let queuedAt = Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
        do {
            try prepare(queuedAt)
            try FileSystem.renameNoReplace(source, target)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            if (error as? SystemError)?.errno == ENOENT { return nil }
            throw error
        }
        return queuedAt
    }

    private static let counter = Atomic<Int>(0)
}
