import Foundation

/// The jobs waiting in a queue directory, in pickup order: one listing for the runner that
/// claims them (`JobQueue`) and for everything that only shows them (`QueueObserver`).
package enum QueueListing {
    /// Job files in `queueDirectory` (regular files that parse as a `JobName`), oldest first
    /// (by mtime, then name).
    package static func pending(in queueDirectory: String) -> [JobName] {
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
}
