import ConstruirSystem
import Foundation
import JobModel

/// `construir kill` on a local queue. A queued job is claimed as a runner claims one (a rename,
/// so of the killer and the runners exactly one gets it) and published to done/ as `killed`
/// without booting. A claimed job gets a `KillRequest` in its running directory, which its
/// runner's executor acts on: before boot it boots nothing, while running it destroys the VM.
///
/// Blocking (renames, flushes, copies into done/): call it on a thread of its own.
package struct JobKiller: Sendable {
    package let queue: JobQueue
    package let publisher: JobPublisher
    package let defaultImage: Int

    package init(queueDirectory: String, stateDirectory: String, doneDirectory: String, defaultImage: Int = 0) throws {
        self.queue = try JobQueue(queueDirectory: queueDirectory, stateDirectory: stateDirectory)
        self.publisher = JobPublisher(done: try DoneStore(directory: doneDirectory))
        self.defaultImage = defaultImage
    }

    /// Takes the queued job file `fileName` out of the queue and publishes it as killed; nil
    /// when it is not in the queue any more (a runner claimed it meanwhile: request the kill of
    /// the running job instead).
    package func killQueued(_ fileName: String) throws -> JobPublisher.Published? {
        guard let name = JobName(fileName: fileName) else {
            throw ConstruirError(.invalidArgument, "\(fileName) is not a job file name")
        }
        // Held while the job is in running/: a runner's orphan scan takes this claim for a live one.
        let identity = try RunnerIdentity.acquire(stateDirectory: queue.stateDirectory, role: "kill")
        defer { identity.discard() }
        guard let job = try queue.claim(name, by: identity, killing: KillRequest()) else { return nil }
        var result = JobResult.notRun(job, status: .killed, defaultImage: defaultImage, error: KillRequest.killedBeforeBoot)
        result.runnerID = identity.id
        do {
            try FileSystem.writeDurably(try result.encoded(), to: job.resultPath)
            return try publisher.publish(job, result: result)
        } catch {
            // Its kill request is written: the runner that takes it over publishes it, unrun.
            throw ConstruirError(.system, "\(fileName) is out of the queue and will not run, but is not in done/: "
                                 + "it waits in \(job.directory) for a runner to publish it", cause: error)
        }
    }

    /// Asks the runner of the claimed job whose running directory is `id` to stop it. False
    /// when that directory is gone (the job was published, or returned to the queue, meanwhile).
    package func requestKill(runningID id: String) throws -> Bool {
        guard !id.isEmpty, !id.hasPrefix("."), !id.contains("/") else {
            throw ConstruirError(.invalidArgument, "\(id) is not a running job's ID")
        }
        do {
            try KillRequest().write(in: "\(queue.runningDirectory)/\(id)")
            return true
        } catch let error as SystemError where error.errno == ENOENT {
            return false
        }
    }
}
