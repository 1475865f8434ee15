import ConstruirSystem
import Foundation
import JobModel

/// The working tree of a repository as a commit on top of HEAD, for `construir try`: the
/// committed files with the uncommitted changes and the untracked files that are not ignored.
///
/// The repository is left as it was: no ref, no change to its index, HEAD or working tree. git
/// works on a copy of the index in a private temporary directory (`GIT_INDEX_FILE`): `add -A`,
/// `write-tree`, then `commit-tree TREE -p HEAD`. What it writes to the repository are loose
/// objects (the changed files' blobs, their trees and the commit), which nothing refers to;
/// `git gc` prunes them after its grace period. The copy of the index keeps git's file stat
/// data, so only changed files are read and hashed.
///
/// The commit is a function of the tree and HEAD alone: a fixed author and committer, and
/// HEAD's committer time as its time (so `SOURCE_DATE_EPOCH` and the entries' times stay
/// HEAD's, and the same working tree makes the same job bytes).
package struct WorkingTreeSnapshot: Sendable, Equatable {
    /// HEAD: the commit the working tree is based on.
    package let base: String
    /// The commit whose tree is the working tree's; `base` itself when nothing differs.
    package let commit: String

    /// Whether the working tree differs from HEAD.
    package var uncommittedChanges: Bool { commit != base }

    /// The identity of the snapshot commits: never the user's, which may not be configured.
    static let identity = ["GIT_AUTHOR_NAME": "construir try", "GIT_AUTHOR_EMAIL": "construir-try@localhost",
                           "GIT_COMMITTER_NAME": "construir try", "GIT_COMMITTER_EMAIL": "construir-try@localhost"]

    /// Takes the snapshot.
    /// - Throws: `.invalidArgument` for a bare repository or one without a commit yet,
    ///   `.system` when git fails.
    package static func take(_ repository: GitRepository) throws(ConstruirError) -> WorkingTreeSnapshot {
        guard let workTree = repository.workTree else {
            throw ConstruirError(.invalidArgument, "\(repository.location) is a bare repository: there is no working tree to package")
        }
        guard let head = try repository.gitAnswer(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])?.trimmedLine,
              !head.isEmpty else {
            throw ConstruirError(.invalidArgument, "\(repository.location) has no commit yet: the working tree is packaged on top of HEAD, so commit something first")
        }
        let time = try repository.committerTime(head)

        let scratch: String
        do {
            scratch = try PrivateDirectory.makeUnique(in: PrivateDirectory.temporaryBase(), prefix: "construir-index-")
        } catch {
            throw ConstruirError(.system, "cannot make a temporary index", cause: error)
        }
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let index = "\(scratch)/index"
        let current = "\(repository.gitDirectory)/index"
        if FileSystem.exists(current) {
            do {
                try FileManager.default.copyItem(atPath: current, toPath: index)
            } catch {
                throw ConstruirError(.system, "cannot copy the index of \(repository.location)", cause: error)
            }
        }

        // A split index or an fsmonitor would make git write beside the real index or ask a
        // daemon about this one; neither is needed for a one-off index.
        let settings = ["-c", "core.splitIndex=false", "-c", "core.fsmonitor=false", "-c", "core.untrackedCache=false"]
        let environment = identity.merging(["GIT_INDEX_FILE": index]) { $1 }
        func git(_ arguments: [String], _ what: String) throws(ConstruirError) -> String {
            try Git.run(["--git-dir=\(repository.gitDirectory)", "--work-tree=\(workTree)"] + settings + arguments,
                        in: workTree, setting: environment) { message in
                ConstruirError(.system, "\(what) in \(repository.location): \(message)")
            }.trimmedLine
        }
        _ = try git(["add", "--all", "--", ":/"], "cannot add the working tree to a temporary index")
        let tree = try git(["write-tree"], "cannot write the working tree's tree")
        let headTree = try repository.git(["rev-parse", "--verify", "\(head)^{tree}"], "cannot read HEAD's tree").trimmedLine
        guard tree != headTree else { return WorkingTreeSnapshot(base: head, commit: head) }

        var dated = environment
        dated["GIT_AUTHOR_DATE"] = "@\(time) +0000"
        dated["GIT_COMMITTER_DATE"] = "@\(time) +0000"
        let commit = try Git.run(["--git-dir=\(repository.gitDirectory)", "commit-tree", "--no-gpg-sign", tree, "-p", head,
                                  "-m", "construir try: the working tree on top of \(head)"],
                                 in: repository.gitDirectory, setting: dated) { message in
            ConstruirError(.system, "cannot make a commit of the working tree in \(repository.location): \(message)")
        }.trimmedLine
        return WorkingTreeSnapshot(base: head, commit: commit)
    }

    init(base: String, commit: String) {
        self.base = base
        self.commit = commit
    }
}
