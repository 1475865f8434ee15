import Glibc
import ConstruirSystem
import Foundation
import Logging

/// A user's command run after each published job (`construir run --on-done COMMAND`), for
/// notifications. It runs as `/bin/sh -c COMMAND construir-on-done DONE_DIR`: the path is the
/// script's `$1`, passed as an argument and never pasted into the command text, so no job name can
/// inject shell code. It gets the environment plus `CONSTRUIR_DONE_DIR`, `CONSTRUIR_JOB`,
/// `CONSTRUIR_JOB_NAME`, `CONSTRUIR_JOB_STATUS`. Standard input is /dev/null; its output is
/// logged. A hook that fails, or runs past `timeout` (its whole process group is then killed),
/// is logged and changes nothing else: the job is already in done/.
package struct OnDoneHook: Sendable {
    package enum Outcome: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
        case couldNotStart(String)
    }

    package let command: String
    package let timeout: Duration
    package let logger: Logger

    package init(command: String, timeout: Duration = .seconds(60), logger: Logger) {
        self.command = command
        self.timeout = timeout
        self.logger = logger
    }

    /// Runs the hook for `job` and waits for it (at most `timeout` plus a grace of 2 s).
    @discardableResult
    package func run(for job: PublishedJob) async -> Outcome {
        let extra = [
            "CONSTRUIR_DONE_DIR": job.directory,
            "CONSTRUIR_JOB": job.result.job,
            "CONSTRUIR_JOB_NAME": job.result.name,
            "CONSTRUIR_JOB_STATUS": job.result.status.rawValue,
        ]
        let started = ContinuousClock.now
        let (outcome, output) = await Self.execute(
            ["/bin/sh", "-c", command, "construir-on-done", job.directory], extraEnvironment: extra, timeout: timeout)
        var metadata: Logger.Metadata = [
            "done": "\(job.directory)", "outcome": "\(outcome)",
            "seconds": "\(String(format: "%.2f", (ContinuousClock.now - started).seconds))",
        ]
        if !output.isEmpty { metadata["output"] = "\(output)" }
        if outcome == .exited(0) {
            logger.info("on-done hook finished", metadata: metadata)
        } else {
            logger.warning("on-done hook failed; the job is published regardless", metadata: metadata)
        }
        return outcome
    }

    /// Starts `arguments` in a process group of its own (`ChildProcess`), with stdout and stderr
    /// in a temporary file, and waits; returns how it ended and the last 4 KiB of its output.
    static func execute(_ arguments: [String], extraEnvironment: [String: String], timeout: Duration) async -> (Outcome, String) {
        var template = Array("\(NSTemporaryDirectory())/construir-hook-XXXXXX".utf8CString)
        let outputFD = mkstemp(&template)
        guard outputFD >= 0 else { return (.couldNotStart("cannot create a file for its output: errno \(errno)"), "") }
        let outputPath = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { close(outputFD); unlink(outputPath) }

        var environment = ProcessInfo.processInfo.environment
        environment.merge(extraEnvironment) { $1 }
        let child: ChildProcess
        do {
            // Off the cooperative pool: spawning forks, and a script busy for a moment is waited out.
            let environment = environment
            child = try await OwnThread.run("construir-hook") {
                try ChildProcess(arguments, environment: environment, input: .null, output: .file(outputFD),
                                 error: .standardOutput, ownProcessGroup: true)
            }
        } catch {
            return (.couldNotStart("\(error)"), "")
        }
        let outcome: Outcome = switch await child.exit(timeout: timeout) {
        case .exited(let code): .exited(code)
        case .signalled(let signal): .signalled(signal)
        case .timedOut: .timedOut
        }
        return (outcome, Self.tail(of: outputFD, limit: 4096))
    }

    private static func tail(of fd: Int32, limit: Int) -> String {
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return "" }
        let start = max(0, Int(size) - limit)
        var buffer = [UInt8](repeating: 0, count: Int(size) - start)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
        guard count > 0 else { return "" }
        return String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
