import ArgumentParser
import ConstruirSystem
import Foundation
import JobModel
import Logging
import Runner
import ServiceLifecycle
import VMHost

/// `construir run-once JOB.tar.xz`: try a job locally before submitting it.
///
/// It is the runner itself, not a look-alike: the job is copied into a private queue and a
/// `Runner` built by `RunCommand.makeRunner` (the same options, claim, executor, publish step and
/// `--on-done` hook as `construir run`) runs that queue until it is empty. The user's file is
/// only read.
package struct RunOnceCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "run-once",
        abstract: "Run one job in the foreground as the runner would, printing its console, then its result.",
        discussion: """
        The job file is copied into a private queue (the file itself is left as it is) and runs \
        exactly as under `construir run`; it lands in DONE/NAME like any other job. The console \
        goes to standard output as it is written, logs to standard error. Exit code: 0 passed, \
        1 failed, 2 timed_out, 3 error, 4 rejected, 5 no result (interrupted), 64 bad usage, \
        70 construir could not run it.
        """)

    @Argument(help: "The job file, NAME.tar.xz or NAME_iN.tar.xz.") var job: String
    @Option(help: "Image for a job whose name has no _iN.") var defaultImage = 0
    @OptionGroup var options: RunOnceOptions

    package init() {}

    package func validate() throws {
        let path = FileSystem.absolute(job)
        var st = stat()
        guard stat(path, &st) == 0 else { throw ValidationError("\(job): no such file") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw ValidationError("\(job): not a regular file") }
        guard access(path, R_OK) == 0 else { throw ValidationError("\(job): not readable") }
        guard JobName(fileName: (path as NSString).lastPathComponent) != nil else {
            throw ValidationError("\(job): a job file is named NAME.tar.xz or NAME_iN.tar.xz (and not hidden)")
        }
        _ = try options.runCommand(queue: "/nonexistent", state: "/nonexistent", defaultImage: defaultImage)
    }

    package func run() async throws {
        let source = FileSystem.absolute(job)
        let fileName = (source as NSString).lastPathComponent
        try await Self.runJob(command: "run-once", options: options, defaultImage: defaultImage) { queue, _ in
            try Self.copyJob(source, to: "\(queue)/\(fileName)")
            return fileName
        }
    }

    /// Runs one job in the foreground exactly as the runner would, printing its console, then
    /// its result; ends by throwing the job's exit code (`JobExitCode`). `enqueue` puts the job
    /// file into the private queue it is given and returns the file's name; the runner starts
    /// after it. `command` names the command in messages (`run-once`, `try`).
    static func runJob(command: String, options: RunOnceOptions, defaultImage: Int,
                       enqueue: (_ queue: String, _ logger: Logger) async throws -> String) async throws {
        signal(SIGPIPE, SIG_IGN)
        // QEMU becomes this process's child when libvirt daemonises it, and is reaped as soon as
        // it exits: the run ends with the job instead of waiting for init to reap it (`Subreaper`).
        Subreaper.adoptQEMU()
        let logger = RunCommand.makeLogger(verbose: options.verbose, format: options.logFormat)

        // A private queue: a short path, so the embedded libvirt driver's root (STATE/libvirt,
        // which holds sockets) fits inside it and goes with it.
        let privateDirectory: String
        do {
            privateDirectory = try PrivateDirectory.makeUnique(in: PrivateDirectory.temporaryBase(), prefix: "construir-once-")
        } catch {
            throw fail(command, "\(error)")
        }
        defer { try? FileManager.default.removeItem(atPath: privateDirectory) }
        let queue = "\(privateDirectory)/queue"
        let state = "\(privateDirectory)/state"
        // The embedded driver probes QEMU's capabilities (about 4.5 s under TCG) the first time a
        // root is used, so run-once keeps its roots in this user's private runtime directory:
        // RUNTIME/once-N, held by a lock while in use (one process per root), the lowest free N.
        let published = PublishedBox()
        let runner: Runner<QueueDirectorySource>
        let cache: (root: String, lock: FileLock)?
        let fileName: String
        do {
            cache = options.connect == nil ? try Self.embeddedRootCache(base: PrivateDirectory.runtimeBase()) : nil
            try FileSystem.makeDirectory(queue)
            fileName = try await enqueue(queue, logger)
            // The kept root also keeps the image files' hashes, so an unchanged image is not
            // hashed again on every run (see FileDigestStore).
            runner = try options.runCommand(queue: queue, state: state, defaultImage: defaultImage,
                                            connect: cache.map { Hypervisor.embeddedURI(root: $0.root) },
                                            imageDigests: cache.map { "\($0.root)/image-digests.json" })
                .makeRunner(logger: logger, onPublished: { published.set($0) })
        } catch let error as ExitCode {
            throw error
        } catch {
            throw fail(command, "\(error)")
        }

        let console = Self.printConsole(of: runner.source.queue.runningDirectory, quiet: options.quiet, published: published)
        do {
            try await CommandServices.run(runner, logger: logger)
        } catch {
            console.cancel()
            throw fail(command, "\(error)")
        }
        _ = cache?.lock  // held until the run is over
        // The running directory is gone once the job is published or returned to the queue, and
        // the follower then ends by itself, having printed everything.
        published.markRunnerEnded()
        await console.value

        // Without a kept root (none could be locked), the embedded driver's root is inside the
        // private directory unless its path was too long for libvirt's sockets; then it is under
        // /tmp, and goes too.
        if options.connect == nil, cache == nil {
            let root = RunnerSetup.embeddedRoot(stateDirectory: state, identity: runner.identity.id)
            if !root.hasPrefix(privateDirectory + "/") { try? FileManager.default.removeItem(atPath: root) }
        }
        guard let job = published.get() else {
            FileHandle.standardError.write(Data("construir \(command): \(fileName) did not finish (interrupted); nothing was published\n".utf8))
            throw ExitCode(JobExitCode.noResult)
        }
        print("--- construir \(command): \(fileName) ---")
        print(StatusText.result(.init(directory: (job.directory as NSString).lastPathComponent, result: job.result), directory: job.directory), terminator: "")
        throw ExitCode(JobExitCode.code(for: job.result.status))
    }

    /// Prints the console of the job the runner claims into `runningDirectory` as it grows,
    /// until the runner ended and every byte is out.
    private static func printConsole(of runningDirectory: String, quiet: Bool, published: PublishedBox) -> Task<Void, Never> {
        Task {
            guard !quiet else { return }
            let toTerminal = isatty(STDOUT_FILENO) == 1
            // The runner claims the job into running/ID/ first; follow that directory's console.
            while !Task.isCancelled, !published.runnerEnded {
                let claimed = (try? FileManager.default.contentsOfDirectory(atPath: runningDirectory)) ?? []
                if let id = claimed.first(where: { !$0.hasPrefix(".") }) {
                    await ConsoleFollower.follow(directory: "\(runningDirectory)/\(id)") {
                        TerminalText.write($0, toTerminal: toTerminal)
                    }
                    return
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// A kept embedded-driver root below `base` and the lock that makes it this process's; nil
    /// when none can be had (run-once then uses a root inside its private directory, and pays
    /// the probe). `base` is made this user's own (mode 0700) or refused: a base someone else
    /// owns or can write throws, naming it and its owner.
    static func embeddedRootCache(base: String) throws -> (root: String, lock: FileLock)? {
        guard "\(base)/once-16".utf8.count <= RunnerSetup.maximumEmbeddedRootLength else { return nil }
        try PrivateDirectory.make(base)
        for n in 1...16 {
            let root = "\(base)/once-\(n)"
            if let lock = try? FileLock.tryLock("\(root).lock") { return (root, lock) }
        }
        return nil
    }

    /// Copies the job into the private queue under a hidden name, then renames it into place,
    /// dated now (the runner's wait time counts from the file's mtime).
    static func copyJob(_ source: String, to target: String) throws {
        let directory = (target as NSString).deletingLastPathComponent
        let staging = "\(directory)/.\((target as NSString).lastPathComponent).part"
        do {
            try FileManager.default.copyItem(atPath: source, toPath: staging)
            try FileManager.default.setAttributes([.modificationDate: Date(), .posixPermissions: 0o644], ofItemAtPath: staging)
            try FileSystem.renameNoReplace(staging, target)
        } catch {
            throw ConstruirError(.system, "cannot copy \(source) into the private queue: \(error.localizedDescription)")
        }
    }
}
