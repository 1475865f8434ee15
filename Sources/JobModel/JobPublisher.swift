import ConstruirSystem
import Foundation

/// Moves a finished job from running/ to done/, and decides what happens when done/ cannot
/// hold it (done/ is often a disk of its own, smaller than the queue's):
/// - it fits in done/'s free space: it is published as it is;
/// - it would fit a done/ with more free space: nothing is copied (a copy would fail halfway
///   and fill the disk for every other job) and `.noSpace` is thrown; the runner retries later;
/// - it can never fit (it is larger than done/'s whole filesystem): a part larger than that
///   filesystem on its own is left out first, then the extracted `output/`, `output.tar.xz`,
///   `console.log` and last the job file, until it fits; it is published as `error` naming what
///   was left out and the space it needed, so the job ends and the queue goes on. (The job file
///   too: its submitter has it, and waiting for room that never comes would stop the runner for
///   good, as it claims nothing while a job waits for done/.)
///   `output.tar.xz`, when kept, still holds the whole output.
///
/// A publish within one filesystem is a rename and needs no space. Blocking (it copies and
/// flushes whole trees): call it on a thread of its own.
package struct JobPublisher: Sendable {
    package let done: DoneStore

    /// What is left out, in order, of a job larger than done/'s filesystem.
    static let optionalParts = [JobFiles.output, JobFiles.outputArchive, JobFiles.consoleLog, JobFiles.job]
    /// Starts the note in `error`; a publish retried after a crash does not add it twice.
    static let leftOutNote = "not published for lack of space in done/"

    package init(done: DoneStore) {
        self.done = done
    }

    package struct Published: Sendable {
        /// Its directory in done/.
        package let directory: String
        /// The result as published (changed when parts were left out); nil if unreadable.
        package let result: JobResult?
    }

    /// `result` is what the job's result.json holds; nil to read it from there.
    package func publish(_ job: ClaimedJob, result: JobResult?) throws(ConstruirError) -> Published {
        var result = result
        do {
            if !done.isOnSameFilesystem(job.directory) {
                let space = try done.space()
                var needed = DoneStore.copyBytes(job.directory)
                if needed > space.capacity {
                    result = try leaveOutWhatCannotFit(job, result: result, space: space, needed: &needed)
                }
                guard needed <= space.available else {
                    throw ConstruirError(.noSpace, "done/ (\(done.directory)) has \(Units.formatBytes(space.available)) free; the job needs \(Units.formatBytes(needed))")
                }
            }
            let target = try done.publish(job.directory, name: job.name.safeName)
            return Published(directory: target, result: result ?? Self.readResult("\(target)/\(JobFiles.result)"))
        } catch let error as ConstruirError {
            throw error
        } catch {
            throw done.classify(error, publishing: job.directory)
        }
    }

    /// Removes the parts of a job too large for done/'s filesystem and rewrites its result.json
    /// (first, durably) as `error` saying so. Returns the new result; `needed` (what copying the
    /// job writes) is lowered by what was left out.
    private func leaveOutWhatCannotFit(_ job: ClaimedJob, result: JobResult?, space: DoneStore.Space,
                                       needed: inout Int64) throws -> JobResult? {
        var leftOut: [(part: String, bytes: Int64)] = []
        let parts = Self.optionalParts.filter { FileSystem.exists("\(job.directory)/\($0)") }
            .map { (part: $0, bytes: DoneStore.copyBytes("\(job.directory)/\($0)")) }
        let hopeless = parts.filter { $0.bytes > space.capacity }
        for part in hopeless + parts.filter({ $0.bytes <= space.capacity }) where needed > space.capacity {
            leftOut.append(part)
            needed -= part.bytes
        }
        guard !leftOut.isEmpty else { return result }
        guard var result = result ?? Self.readResult(job.resultPath) else {
            throw ConstruirError(.notFound, "cannot read \(job.resultPath)")
        }
        if !(result.error ?? "").contains(Self.leftOutNote) {
            let parts = leftOut.map { "\($0.part) needs \(Units.formatBytes($0.bytes))" }.joined(separator: ", ")
            var note = "\(Self.leftOutNote): \(parts); done/ (\(done.directory)) holds \(Units.formatBytes(space.capacity)) in all, \(Units.formatBytes(space.available)) free"
            if !leftOut.contains(where: { $0.part == JobFiles.outputArchive }), FileSystem.exists("\(job.directory)/\(JobFiles.outputArchive)") {
                note += "; output.tar.xz has the whole output (construir extract unpacks it)"
            }
            result.status = .error
            result.error = [result.error, note].compactMap { $0 }.joined(separator: "; ")
            try FileSystem.writeDurably(try result.encoded(), to: job.resultPath)
        }
        for part in leftOut {
            try FileManager.default.removeItem(atPath: "\(job.directory)/\(part.part)")
        }
        return result
    }

    package static func readResult(_ path: String) -> JobResult? {
        (try? Data(contentsOf: URL(fileURLWithPath: path))).flatMap { try? JobResult.decode($0) }
    }
}
