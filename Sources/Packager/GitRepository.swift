import ConstruirSystem
import Foundation

/// A git repository, read through the `git` command (git is the interface: its object formats,
/// packs, alternates and configuration are its business). Every command runs as
/// `git --git-dir=GITDIR ...`, so a bare repository or a submodule's git directory under
/// `.git/modules` works like a checkout. Nothing is ever written to the repository.
package struct GitRepository: Sendable, Equatable {
    /// The absolute git directory (`.git` of a checkout, the repository itself when bare).
    package let gitDirectory: String
    /// The common git directory (differs from `gitDirectory` in a linked worktree); submodules'
    /// git directories live in its `modules/`.
    package let commonDirectory: String
    /// The top of the work tree, nil for a bare repository.
    package let workTree: String?

    /// The directory the repository is known by: the work tree, or the git directory when bare.
    package var location: String { workTree ?? gitDirectory }

    /// The last component of `location`, without a `.git` suffix for a bare repository.
    package var directoryName: String {
        let base = (location as NSString).lastPathComponent
        if workTree == nil, base.hasSuffix(".git"), base.count > 4 { return String(base.dropLast(4)) }
        return base
    }

    /// Opens the repository at `path` (a work tree, any directory inside one, or a git directory).
    /// - Throws: `.notFound` if `path` is not a directory, `.invalidArgument` if it is not in a
    ///   git repository.
    package init(path: String) throws(ConstruirError) {
        let absolute = FileSystem.absolute(path)
        guard FileSystem.isDirectory(absolute) else {
            throw ConstruirError(.notFound, "\(path) is not a directory")
        }
        let lines = try Git.run(
            ["-C", absolute, "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir", "--is-bare-repository"]
        ) { ConstruirError(.invalidArgument, "\(path) is not a git repository (\($0))") }.trimmedLine
            .split(separator: "\n").map(String.init)
        guard lines.count == 3 else {
            throw ConstruirError(.internalError, "unexpected output from git rev-parse in \(path): \(lines)")
        }
        var workTree: String?
        if lines[2] != "true" {
            let top = try Git.output(["-C", absolute, "rev-parse", "--show-toplevel"])?.trimmedLine
            if let top, !top.isEmpty { workTree = top }
        }
        self.init(gitDirectory: lines[0], commonDirectory: lines[1], workTree: workTree)
    }

    init(gitDirectory: String, commonDirectory: String, workTree: String?) {
        self.gitDirectory = gitDirectory
        self.commonDirectory = commonDirectory
        self.workTree = workTree
    }

    /// Runs `git --git-dir=GITDIR ARGUMENTS` and returns its output; a failure becomes an error
    /// saying `what` failed, with git's message.
    func git(_ arguments: [String], _ what: @autoclosure () -> String, code: ConstruirError.Code = .system) throws(ConstruirError) -> [UInt8] {
        try Git.run(["--git-dir=\(gitDirectory)"] + arguments, in: gitDirectory) { message in
            ConstruirError(code, "\(what()) in \(location): \(message)")
        }
    }

    /// Like `git`, but nil when git exits non-zero.
    func gitAnswer(_ arguments: [String]) throws(ConstruirError) -> [UInt8]? {
        try Git.output(["--git-dir=\(gitDirectory)"] + arguments, in: gitDirectory)
    }

    /// The full hash of the commit `revision` names.
    /// - Throws: `.notFound` for a revision that does not name a commit here.
    package func resolveCommit(_ revision: String) throws(ConstruirError) -> String {
        guard !revision.isEmpty, !revision.hasPrefix("-"), !revision.contains("\n"), !revision.contains("\0") else {
            throw ConstruirError(.invalidArgument, "'\(revision)' is not a revision")
        }
        guard let hash = try gitAnswer(["rev-parse", "--verify", "--quiet", "--end-of-options", "\(revision)^{commit}"])?.trimmedLine,
              !hash.isEmpty else {
            throw ConstruirError(.notFound, "unknown revision '\(revision)' in \(location) (it names no commit)")
        }
        return hash
    }

    /// Whether `commit` exists here as a commit (used to find a submodule's objects).
    func hasCommit(_ commit: String) throws(ConstruirError) -> Bool {
        try gitAnswer(["cat-file", "-e", "\(commit)^{commit}"]) != nil
    }

    /// `commit` abbreviated to `length` hex digits, longer only if that would be ambiguous.
    /// A fixed length (not git's default, which grows with the number of objects in a clone)
    /// keeps names and job images identical across clones.
    package func shortHash(_ commit: String, length: Int = 12) throws(ConstruirError) -> String {
        try git(["rev-parse", "--short=\(length)", commit], "cannot abbreviate \(commit)").trimmedLine
    }

    /// The committer time of `commit`, seconds since the epoch (read from the raw commit object,
    /// which no `log`/`show` configuration can change).
    package func committerTime(_ commit: String) throws(ConstruirError) -> Int64 {
        let raw = try git(["cat-file", "commit", commit], "cannot read commit \(commit)")
        for line in raw.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if line.isEmpty { break }  // end of the header
            guard line.starts(with: Array("committer ".utf8)) else { continue }
            // "committer NAME <EMAIL> SECONDS ZONE"
            let fields = line.split(separator: UInt8(ascii: " "))
            if fields.count >= 3, let seconds = Int64(String(decoding: fields[fields.count - 2], as: UTF8.self)) {
                return seconds
            }
        }
        throw ConstruirError(.internalError, "commit \(commit) in \(location) has no readable committer time")
    }

    /// The branch `revision` names: `main` for `main`, `HEAD` on branch `main`, or
    /// `origin/main`; empty for a tag, a commit hash, an expression or a detached HEAD.
    package func branch(of revision: String) throws(ConstruirError) -> String {
        guard let output = try gitAnswer(["rev-parse", "--symbolic-full-name", revision, "--"]) else { return "" }
        let name = output.trimmedLine.split(separator: "\n").map(String.init).first { $0 != "--" } ?? ""
        if name.hasPrefix("refs/heads/") { return String(name.dropFirst("refs/heads/".count)) }
        if name.hasPrefix("refs/remotes/") {
            let rest = name.dropFirst("refs/remotes/".count)
            guard let slash = rest.firstIndex(of: "/") else { return "" }
            let branch = String(rest[rest.index(after: slash)...])
            return branch == "HEAD" ? "" : branch
        }
        return ""
    }

    /// The nearest tag reachable from `commit` (`git describe --tags --abbrev=0`), or empty.
    package func nearestTag(_ commit: String) throws(ConstruirError) -> String {
        try gitAnswer(["describe", "--tags", "--abbrev=0", commit])?.trimmedLine ?? ""
    }

    /// `remote.origin.url`, or nil when there is none.
    package func originURL() throws(ConstruirError) -> String? {
        guard let url = try gitAnswer(["config", "--get", "remote.origin.url"])?.trimmedLine, !url.isEmpty else { return nil }
        return url
    }

    /// The contents of the blob `object`, which must be at most `limit` bytes.
    func blob(_ object: String, limit: Int, what: String) throws(ConstruirError) -> [UInt8] {
        let size = try git(["cat-file", "-s", object], "cannot read \(what)").trimmedLine
        guard let bytes = Int(size), bytes <= limit else {
            throw ConstruirError(.invalidArgument, "\(what) in \(location) is \(size) bytes, more than \(limit)")
        }
        return try git(["cat-file", "blob", object], "cannot read \(what)")
    }

    /// Every entry of `commit`'s tree, recursively (blobs, symlinks and submodule commits; no
    /// trees), in git's order.
    package func tree(_ commit: String) throws(ConstruirError) -> [GitTreeEntry] {
        let output = try git(["ls-tree", "-r", "-z", "-l", "--full-tree", commit], "cannot list the tree of \(commit)")
        var entries: [GitTreeEntry] = []
        for record in output.split(separator: 0, omittingEmptySubsequences: true) {
            guard let entry = GitTreeEntry(record: record) else {
                throw ConstruirError(.internalError, "cannot parse git ls-tree output: \(String(decoding: record, as: UTF8.self))")
            }
            entries.append(entry)
        }
        return entries
    }

    /// The submodule names `.gitmodules` of `commit` gives for each submodule path (a name is
    /// what `.git/modules/NAME` is called; it usually equals the path, but need not).
    func submoduleNames(at commit: String) throws(ConstruirError) -> [String: String] {
        guard let output = try gitAnswer(["config", "--blob", "\(commit):.gitmodules", "-z", "--get-regexp", #"^submodule\..*\.path$"#]) else {
            return [:]
        }
        var names: [String: String] = [:]
        for record in output.split(separator: 0, omittingEmptySubsequences: true) {
            // "submodule.NAME.path\nPATH"
            guard let newline = record.firstIndex(of: UInt8(ascii: "\n")) else { continue }
            let key = String(decoding: record[..<newline], as: UTF8.self)
            let path = String(decoding: record[(newline + 1)...], as: UTF8.self)
            guard key.hasPrefix("submodule."), key.hasSuffix(".path") else { continue }
            let name = String(key.dropFirst("submodule.".count).dropLast(".path".count))
            names[path] = name
        }
        return names
    }
}
