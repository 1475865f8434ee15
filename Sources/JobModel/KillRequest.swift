import ConstruirSystem
import Foundation

/// `running/ID/kill`: `construir kill` asks the runner of a claimed job to stop it. A file, not a
/// signal, because the two are separate processes (maybe on separate hosts sharing the queue)
/// and a request must outlive either: a runner that dies and one that takes the job over both
/// see it, and a job that has not booted yet never boots.
package struct KillRequest: Codable, Sendable, Equatable {
    /// The request's name in a running directory; `DoneStore` keeps it out of done/.
    package static let fileName = "kill"

    package var requested: Date
    /// Who asked, for the runner's log.
    package var host: String
    package var pid: Int32

    package init(requested: Date = Date(), host: String = HostName.current(), pid: Int32 = getpid()) {
        self.requested = requested
        self.host = host
        self.pid = pid
    }

    package func encoded() throws -> Data {
        try JobResult.jsonEncoder().encode(self)
    }

    /// Writes the request into a running directory, flushed before this returns. Fails with
    /// ENOENT when the directory is gone (the job was published or returned to the queue).
    package func write(in directory: String) throws {
        try FileSystem.writeDurably(try encoded(), to: "\(directory)/\(Self.fileName)")
    }

    /// Whether the job in `directory` is asked to stop. Cheap: the executor looks every 500 ms.
    package static func exists(in directory: String) -> Bool {
        FileSystem.exists("\(directory)/\(fileName)")
    }

    /// `result.json`'s `error` for a job killed before its VM booted (queued, or claimed and
    /// not booted yet).
    package static let killedBeforeBoot = "killed by construir kill before it ran"
    /// `result.json`'s `error` for a job whose VM was running.
    package static let killedWhileRunning = "killed by construir kill: the VM was destroyed"
}
