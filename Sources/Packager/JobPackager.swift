import Glibc
import Archive
import ConstruirSystem
import Foundation
import JobModel
import Logging
import XZ

/// Turns a git commit into job files: see `JobLayout` for what is inside.
///
/// The result is byte-reproducible: the same commit and request give the same bytes, whatever
/// the clone, the time, the user, the umask or the number of threads. Every entry has the
/// commit's committer time, owner 0/0 without names, a mode fixed by git's mode (0644, 0755,
/// directories 0755, symlinks as stored); the order is fixed by the paths alone (see
/// `TreePlan.sortedEntries`); the tar format is pax-restricted; xz runs at preset 6 with a block
/// size that depends only on the tar's size.
///
/// It is also fast: file contents stream from one `git cat-file --batch` per repository through
/// libarchive into liblzma's multithreaded encoder, in-process, without a checkout.
package struct JobPackager: Sendable {
    /// The smallest job file written by default: the runner gives the output disk at least this
    /// much anyway, and the guest's output must fit in it.
    package static let minimumFileSize: Int64 = 1 << 20
    /// xz preset (the level `xz` and `tar -J` use by default).
    package static let preset = 6
    /// Length of the abbreviated commit in names and in `COMMIT_HASH`.
    package static let shortHashLength = 12

    private let logger: Logger

    package init(logger: Logger = Logger(label: "construir.package")) {
        self.logger = logger
    }

    /// Writes the job files. On failure nothing is left behind (no partial or temporary files).
    ///
    /// - Throws: `.invalidArgument` (not a git repository, no `construir` script and no stages, a
    ///   bad `construir.yml` or a field both it and the request set, bad image index,
    ///   output size too small, `.file` with several images), `.notFound` (unknown revision,
    ///   missing directory, missing submodule commit), `.system` (cannot write the destination,
    ///   git failed), `.xz`/`.archive`.
    @discardableResult
    package func package(_ request: PackageRequest, progress: (any PackageProgress)? = nil) throws(ConstruirError) -> PackageResult {
        // Cheap checks first: nothing is read from git before the request is known to be usable.
        try check(request)
        let targetDirectory = try destinationDirectory(request.destination)

        let repository = try GitRepository(path: request.repository)
        let (commit, source) = try Self.source(of: repository, request)
        let shortCommit = try repository.shortHash(commit, length: Self.shortHashLength)
        let time = try repository.committerTime(commit)
        let described = source.uncommittedChanges ? "the working tree (on top of HEAD)" : "commit \(shortCommit) (\(request.revision))"

        var plan = try TreePlan(repository: repository, commit: commit, recurseSubmodules: request.recurseSubmodules)
        let repositoryManifest = try Self.repositoryManifest(plan.manifest, in: repository, described: described)
        let stages = !(repositoryManifest?.parsed.stages.isEmpty ?? true)
        if repositoryManifest?.parsed.imageDigest != nil, request.images.count != 1 {
            throw ConstruirError(.invalidArgument, "\(JobLayout.manifestName) pins one image with image_digest; give exactly one image, not \(request.images.map(String.init).joined(separator: ","))")
        }
        guard plan.hasScript || stages else {
            throw ConstruirError(.invalidArgument, "\(repository.location) has no '\(JobLayout.scriptName)' script at its root in \(described): looked for the file '\(JobLayout.scriptName)' in the top-level tree; the job runs it as /repo/\(JobLayout.scriptName) (or give the job stages: in a \(JobLayout.manifestName) there)")
        }
        if !plan.skippedSubmodules.isEmpty {
            logger.warning("submodules left out (use --recurse-submodules to include them): \(plan.skippedSubmodules.joined(separator: ", "))")
        }

        let parameters = try JobParameter.resolve(repositoryManifest?.parsed.params ?? [], given: request.parameters)
        if let both = parameters.first(where: { parameter in request.environment.contains { $0.name == parameter.name } }) {
            throw ConstruirError(.invalidArgument, "\(both.name) is a parameter: set it with -p \(both.name)=VALUE, not -e")
        }
        let environment = try Self.environment(repository: repository, revision: request.revision, commit: commit,
                                               shortCommit: shortCommit, commitTime: time, extra: request.environment + parameters)
        // With stages the runner runs them, and the environment goes into the manifest; without,
        // the wrapper runs the script and exports the environment.
        if !stages {
            let wrapper = Array(JobLayout.wrapperScript(environment: environment, commit: commit).utf8)
            plan.addGenerated(path: JobLayout.wrapperPath, contents: wrapper, mode: 0o755)
        }
        if let manifest = try JobManifestWriter.manifest(repository: repositoryManifest, imageDigest: request.imageDigest,
                                                          environment: environment, exportedByWrapper: !stages, tags: request.tags) {
            plan.addGenerated(path: JobManifest.path, contents: manifest, mode: 0o644)
        }
        plan.addGenerated(path: PackagedSource.path, contents: source.encoded(), mode: 0o644)
        let entries = plan.sortedEntries()

        let jobName = Self.jobName(repositoryName: repository.directoryName, shortCommit: shortCommit)
        let finalPaths: [String]
        switch request.destination {
        case .directory:
            finalPaths = request.images.map { "\(targetDirectory)/\(Self.fileName(jobName: jobName, image: $0))" }
        case .file(let path):
            finalPaths = [FileSystem.absolute(path)]
        }

        let written = try write(entries, plan: plan, time: time, to: finalPaths, in: targetDirectory, request, progress: progress)
        let (tarSize, archiveSize, fileSize) = (written.tarSize, written.archiveSize, written.fileSize)
        logger.debug("packaged", metadata: ["commit": "\(commit)", "entries": "\(entries.count)", "tar": "\(tarSize)",
                                            "xz": "\(archiveSize)", "block_size": "\(written.blockSize)",
                                            "threads": "\(written.threads)"])
        return PackageResult(files: finalPaths, jobName: jobName, commit: commit, shortCommit: shortCommit,
                             environment: environment, entries: entries.count, tarSize: tarSize,
                             archiveSize: archiveSize, fileSize: fileSize, skippedSubmodules: plan.skippedSubmodules,
                             source: source, stages: stages)
    }

    /// The checks that need no git: images, destination kind, output size, image digest.
    private func check(_ request: PackageRequest) throws(ConstruirError) {
        try checkImages(request.images, in: request.imagesDirectory)
        if case .file = request.destination, request.images.count != 1 {
            throw ConstruirError(.invalidArgument, "an output file takes exactly one image; use a directory for \(request.images.count) images")
        }
        if let size = request.outputSize, size <= 0 {
            throw ConstruirError(.invalidArgument, "the output size must be positive")
        }
        if let digest = request.imageDigest {
            _ = try ImageDigest.validated(digest, what: "the image digest")
            guard request.images.count == 1 else {
                throw ConstruirError(.invalidArgument, "an image digest pins one image; give exactly one image, not \(request.images.map(String.init).joined(separator: ","))")
            }
        }
    }

    /// The commit to package and what result.json will say of it: the revision's commit, or a
    /// snapshot commit of the working tree on top of HEAD.
    private static func source(of repository: GitRepository, _ request: PackageRequest) throws(ConstruirError) -> (String, PackagedSource) {
        let commit: String
        let source: PackagedSource
        if request.workingTree {
            guard request.revision == "HEAD" else {
                throw ConstruirError(.invalidArgument, "the working tree is packaged on top of HEAD, not of '\(request.revision)'")
            }
            let snapshot = try WorkingTreeSnapshot.take(repository)
            commit = snapshot.commit
            source = PackagedSource(commit: snapshot.base, uncommittedChanges: snapshot.uncommittedChanges)
        } else {
            commit = try repository.resolveCommit(request.revision)
            source = PackagedSource(commit: commit, uncommittedChanges: false)
        }
        return (commit, source)
    }

    /// What writing the job files made, for the result and the log.
    private struct Written {
        let tarSize: Int64
        let archiveSize: Int64
        let fileSize: Int64
        let blockSize: Int
        let threads: Int
    }

    /// Writes the job image once into a temporary beside the first of `finalPaths`, pads it,
    /// copies it for the other images, then renames each into place (the first last) and syncs
    /// the directory. Nothing is left behind on failure.
    private func write(_ entries: [TreePlan.Entry], plan: TreePlan, time: Int64, to finalPaths: [String], in targetDirectory: String,
                       _ request: PackageRequest, progress: (any PackageProgress)?) throws(ConstruirError) -> Written {
        var temporaries: [String] = []
        defer { for path in temporaries { unlink(path) } }
        let temporary = Self.temporaryPath(for: finalPaths[0])
        temporaries.append(temporary)

        let estimate = Self.estimatedTarSize(entries)
        let blockSize = Self.blockSize(estimatedTarSize: estimate)
        let threads = Self.encoderThreads(requested: request.threads, estimatedTarSize: estimate, blockSize: blockSize)
        let writer: JobImageWriter
        do {
            writer = try JobImageWriter(path: temporary, xz: XZWriter.Options(preset: Self.preset, threads: threads, blockSize: blockSize))
        } catch {
            throw ConstruirError(.system, "cannot write to \(targetDirectory)", cause: error)
        }
        defer { progress?.finish() }
        try Self.write(entries, plan: plan, time: time, to: writer, progress: progress)
        let archiveSize = try writer.finish()
        let tarSize = writer.tarLength

        let fileSize = try Self.paddedSize(archiveSize: archiveSize, requested: request.outputSize)
        try Self.pad(temporary, to: fileSize)
        // Extra images get copies; then everything is renamed into place, the first last.
        var renames: [(String, String)] = []
        for path in finalPaths.dropFirst() {
            let copy = Self.temporaryPath(for: path)
            temporaries.append(copy)
            try Self.copyFile(temporary, to: copy)
            renames.append((copy, path))
        }
        renames.append((temporary, finalPaths[0]))
        for (from, to) in renames {
            do {
                try systemCall("rename", path: to) { rename(from, to) }
            } catch {
                throw ConstruirError(.system, "cannot move the job into place", cause: error)
            }
            temporaries.removeAll { $0 == from }
        }
        do {
            try FileSystem.fsyncParent(of: finalPaths[0])
        } catch {
            throw ConstruirError(.system, "cannot sync \(targetDirectory)", cause: error)
        }
        return Written(tarSize: tarSize, archiveSize: archiveSize, fileSize: fileSize, blockSize: blockSize, threads: threads)
    }

    /// The repository's `construir.yml` (its bytes, checked by `JobManifest.parse`), if its
    /// top-level tree has one.
    private static func repositoryManifest(_ entry: GitTreeEntry?, in repository: GitRepository,
                                           described: String) throws(ConstruirError) -> (bytes: [UInt8], parsed: JobManifest)? {
        guard let entry else { return nil }
        guard case .file = entry.kind else {
            throw ConstruirError(.invalidArgument, "\(JobLayout.manifestName) in \(described) of \(repository.location) is not a regular file")
        }
        let bytes = try repository.blob(entry.object, limit: JobImageLimits().maxManifestBytes, what: JobLayout.manifestName)
        do {
            return (bytes, try JobManifest.parse(bytes))
        } catch {
            throw ConstruirError(.invalidArgument, "\(JobLayout.manifestName) in \(described) of \(repository.location) is not a valid job manifest: \(error.message)")
        }
    }

    // MARK: - Naming

    /// `REPO_SHORTREV`: the repository's directory name made safe (`[A-Za-z0-9._-]`, no leading
    /// dot) and the abbreviated commit.
    package static func jobName(repositoryName: String, shortCommit: String) -> String {
        "\(sanitize(repositoryName))_\(shortCommit)"
    }

    /// `NAME_iN.tar.xz`: the runner runs it on build image N (`JobName.fileName`).
    package static func fileName(jobName: String, image: Int) -> String {
        JobName.fileName(name: jobName, image: image)
    }

    /// Keeps `[A-Za-z0-9._-]`, turns anything else into `-`, drops leading dots (dotfiles are
    /// ignored by the runner) and gives `repo` for nothing left (`JobName.sanitize`).
    package static func sanitize(_ name: String) -> String {
        JobName.sanitize(name)
    }

    // MARK: - Environment

    /// The variable reproducible build tools read their timestamps from (reproducible-builds.org).
    package static let sourceDateEpoch = "SOURCE_DATE_EPOCH"

    /// REPO_URL, COMMIT_HASH, BRANCH, TAG, SOURCE_DATE_EPOCH, then `extra` (a later variable of
    /// the same name replaces the earlier one in place).
    ///
    /// SOURCE_DATE_EPOCH is the commit's committer time: the one time every replica of the build
    /// agrees on (reproducible-builds.org), which build tools use instead of the clock; the
    /// wrapper also stamps the output archive with it. An `extra` one must be decimal seconds.
    static func environment(repository: GitRepository, revision: String, commit: String, shortCommit: String,
                            commitTime: Int64, extra: [EnvironmentVariable]) throws(ConstruirError) -> [EnvironmentVariable] {
        let url = try repository.originURL().map(Self.withoutCredentials) ?? repository.location
        var variables = [
            try EnvironmentVariable(name: "REPO_URL", value: url),
            try EnvironmentVariable(name: "COMMIT_HASH", value: shortCommit),
            try EnvironmentVariable(name: "BRANCH", value: repository.branch(of: revision)),
            try EnvironmentVariable(name: "TAG", value: repository.nearestTag(commit)),
            try EnvironmentVariable(name: sourceDateEpoch, value: String(commitTime)),
        ]
        for variable in extra where variable.name == sourceDateEpoch {
            // The wrapper passes it to `tar --mtime=@VALUE`: anything but seconds would fail there.
            guard !variable.value.isEmpty, variable.value.utf8.count <= 18,
                  variable.value.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
                throw ConstruirError(.invalidArgument, "\(sourceDateEpoch) must be seconds since the epoch (decimal digits), not '\(variable.value)'")
            }
        }
        for variable in extra {
            if let index = variables.firstIndex(where: { $0.name == variable.name }) {
                variables[index] = variable
            } else {
                variables.append(variable)
            }
        }
        return variables
    }

    /// A URL without the user and password part (`https://user:token@host/x` → `https://host/x`):
    /// the job goes into a VM that runs untrusted code. scp-style `git@host:path` is kept.
    static func withoutCredentials(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<scheme.upperBound]) + String(rest[rest.index(after: at)...])
    }

    // MARK: - Images

    /// Checks each index against `directory`'s images (`N/image.json`, or a recipe
    /// `recipes/N.yml`: built images are not committed, so a fresh checkout has only recipes).
    /// A missing directory only warns: jobs can be made on a machine that has no images.
    func checkImages(_ images: [Int], in directory: String) throws(ConstruirError) {
        guard !images.isEmpty else { throw ConstruirError(.invalidArgument, "no image index given") }
        for image in images where image < 0 || image > 999_999 {
            throw ConstruirError(.invalidArgument, "image index \(image) is out of range (0...999999)")
        }
        if Set(images).count != images.count {
            throw ConstruirError(.invalidArgument, "image indices repeat: \(images.map(String.init).joined(separator: ","))")
        }
        guard FileSystem.isDirectory(directory) else {
            logger.warning("images directory \(directory) not found: not checking image \(images.count == 1 ? "index" : "indices") \(images.map(String.init).joined(separator: ","))")
            return
        }
        let available = Self.availableImages(in: directory)
        for image in images where !available.contains(image) {
            let list = available.isEmpty ? "none" : available.map(String.init).joined(separator: ", ")
            throw ConstruirError(.invalidArgument, "unknown build image \(image): there is no \(directory)/\(image)/image.json or \(directory)/recipes/\(image).yml (available images: \(list))")
        }
    }

    /// The indices N with `directory/N/image.json` or `directory/recipes/N.yml`, sorted.
    package static func availableImages(in directory: String) -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let built = names.compactMap { name -> Int? in
            guard let index = Int(name), String(index) == name, index >= 0,
                  FileManager.default.fileExists(atPath: "\(directory)/\(name)/image.json") else { return nil }
            return index
        }
        let recipes = ((try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/recipes")) ?? []).compactMap { name -> Int? in
            guard name.hasSuffix(".yml"), let index = Int(name.dropLast(4)), "\(index).yml" == name, index >= 0 else { return nil }
            return index
        }
        return Set(built + recipes).sorted()
    }

    // MARK: - Output file

    /// The file size for an xz stream of `archiveSize` bytes: `requested` (or the archive's size,
    /// at least `minimumFileSize`) rounded up to a multiple of 512, the unit of a disk. The zero
    /// padding is then a multiple of 4, which even `xz` without `--single-stream` accepts.
    /// - Throws: `.invalidArgument` if `requested` is smaller than the archive.
    package static func paddedSize(archiveSize: Int64, requested: Int64?) throws(ConstruirError) -> Int64 {
        let size = requested ?? max(archiveSize, minimumFileSize)
        let rounded = (size + 511) / 512 * 512
        guard size >= archiveSize else {
            throw ConstruirError(.invalidArgument, "the job archive is \(archiveSize) bytes, more than the requested output size of \(size) bytes")
        }
        return rounded
    }

    private func destinationDirectory(_ destination: PackageRequest.Destination) throws(ConstruirError) -> String {
        let directory: String
        switch destination {
        case .directory(let path): directory = FileSystem.absolute(path)
        case .file(let path): directory = (FileSystem.absolute(path) as NSString).deletingLastPathComponent
        }
        guard FileSystem.exists(directory) else {
            throw ConstruirError(.notFound, "cannot write to \(directory): no such directory")
        }
        guard FileSystem.isDirectory(directory) else {
            throw ConstruirError(.invalidArgument, "cannot write to \(directory): not a directory")
        }
        if case .file(let path) = destination, FileSystem.isDirectory(path) {
            throw ConstruirError(.invalidArgument, "cannot write to \(path): it is a directory")
        }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw ConstruirError(.system, "cannot write to \(directory)", cause: SystemError(call: "access", errno: errno, path: directory))
        }
        return directory
    }

    /// A dot-named file next to `path` (the runner ignores dotfiles), unique to this call.
    static func temporaryPath(for path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let unique = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        return "\(directory)/.\(name).\(unique).part"
    }

    /// Extends `path` with zeros to `size` bytes and syncs it.
    static func pad(_ path: String, to size: Int64) throws(ConstruirError) {
        do {
            let fd = try systemCall("open", path: path) { open(path, O_WRONLY | O_CLOEXEC) }
            defer { close(fd) }
            try systemCall("ftruncate", path: path) { ftruncate(fd, off_t(size)) }
            try systemCall("fsync", path: path) { fsync(fd) }
        } catch {
            throw ConstruirError(.system, "cannot pad the job file", cause: error)
        }
    }

    /// Copies `source` to a new file `destination` and syncs it.
    static func copyFile(_ source: String, to destination: String) throws(ConstruirError) {
        do {
            let input = try systemCall("open", path: source) { open(source, O_RDONLY | O_CLOEXEC) }
            defer { close(input) }
            let output = try systemCall("open", path: destination) {
                open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            }
            defer { close(output) }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = try systemCall("read", path: source) { read(input, buffer.baseAddress, buffer.count) }
                if n == 0 { break }
                var done = 0
                while done < n {
                    done += try systemCall("write", path: destination) { Glibc.write(output, buffer.baseAddress! + done, n - done) }
                }
            }
            try systemCall("fsync", path: destination) { fsync(output) }
        } catch {
            throw ConstruirError(.system, "cannot copy the job file", cause: error)
        }
    }

    // MARK: - Writing

    /// Tar size estimate from the plan alone (headers, data rounded to 512 bytes, an extra
    /// header pair for names ustar cannot hold): deterministic, so a block size derived from it
    /// is too.
    static func estimatedTarSize(_ entries: [TreePlan.Entry]) -> Int64 {
        var total: Int64 = 1024
        for entry in entries {
            total += 512 + (entry.size + 511) / 512 * 512
            if entry.path.count > 100 || entry.path.contains(where: { $0 >= 0x80 }) { total += 1024 }
        }
        return (total + 10239) / 10240 * 10240
    }

    /// The xz block size: a fixed function of the (estimated) tar size, never of the thread
    /// count, so the output is the same with any number of threads.
    ///
    /// xz blocks are compressed independently (that is what lets threads work in parallel) and
    /// each starts with an empty dictionary, which costs compression. So a tree up to 48 MiB is
    /// cut into two halves (two threads, twice as fast, a few percent larger), a larger one
    /// into 24 MiB blocks, liblzma's own choice at preset 6 (three times its 8 MiB dictionary).
    /// At least 1 MiB. See bench/package.md.
    static func blockSize(estimatedTarSize: Int64) -> Int {
        let minimum: Int64 = 1 << 20
        let maximum: Int64 = 24 << 20
        let half = (estimatedTarSize + 1) / 2
        let rounded = (half + 65535) / 65536 * 65536
        return Int(min(max(rounded, minimum), maximum))
    }

    /// Threads worth starting: the request (0: one per CPU), but no more than there are blocks.
    static func encoderThreads(requested: Int, estimatedTarSize: Int64, blockSize: Int) -> Int {
        let blocks = max(1, Int((estimatedTarSize + Int64(blockSize) - 1) / Int64(blockSize)))
        let wanted = requested == 0 ? ProcessInfo.processInfo.activeProcessorCount : requested
        return max(1, min(wanted, blocks))
    }

    private static func write(_ entries: [TreePlan.Entry], plan: TreePlan, time: Int64, to writer: JobImageWriter,
                              progress: (any PackageProgress)?) throws(ConstruirError) {
        // One cat-file stream per repository (the top one and each included submodule), each
        // asked for its blobs in the order they are written.
        var requests = Array(repeating: [String](), count: plan.sources.count)
        for entry in entries {
            if case .blob(let source, let object, _) = entry.content { requests[source].append(object) }
        }
        var streams: [GitObjectStream?] = []
        defer { for stream in streams { stream?.cancel() } }
        for (index, objects) in requests.enumerated() {
            streams.append(objects.isEmpty ? nil : try GitObjectStream(repository: plan.sources[index], objects: objects))
        }

        for (index, entry) in entries.enumerated() {
            switch entry.content {
            case .directory:
                try writer.append(TarWriter.Entry(path: entry.path, kind: .directory, mode: 0o755, modificationTime: time))
            case .generated(let contents, let mode):
                try writer.appendFile(path: entry.path, contents: contents, mode: mode, modificationTime: time)
            case .blob(let source, let object, let kind):
                guard let stream = streams[source] else { throw ConstruirError(.internalError, "no object stream") }
                switch kind {
                case .symlink:
                    var target: [UInt8] = []
                    try stream.next(object, header: { (size: Int64) throws(ConstruirError) in
                        guard size <= 4096 else {
                            throw ConstruirError(.invalidArgument, "symlink \(TarPath.printable(entry.path)) has a \(size)-byte target")
                        }
                    }, body: { (bytes: UnsafeRawBufferPointer) throws(ConstruirError) in target.append(contentsOf: bytes) })
                    try writer.append(TarWriter.Entry(path: entry.path, kind: .symlink(target: target), mode: 0o777, modificationTime: time))
                case .file(let executable):
                    try stream.next(object, header: { (size: Int64) throws(ConstruirError) in
                        try writer.append(TarWriter.Entry(path: entry.path, kind: .file(size: size),
                                                          mode: executable ? 0o755 : 0o644, modificationTime: time))
                    }, body: { (bytes: UnsafeRawBufferPointer) throws(ConstruirError) in try writer.writeData(bytes) })
                case .submodule:
                    throw ConstruirError(.internalError, "a submodule cannot be a blob")
                }
            }
            progress?.update(completed: index + 1, total: entries.count)
        }
        for stream in streams { try stream?.finish() }
        streams = []
    }
}
