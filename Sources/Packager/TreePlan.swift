import ConstruirSystem
import Foundation

/// Everything that goes into a job archive, before any content is read: the commit's files
/// under `repo/` (submodules' files too, when asked), the directories they need, and generated
/// files such as the wrapper.
struct TreePlan {
    struct Entry {
        enum Content {
            case directory
            /// A blob from `sources[source]`.
            case blob(source: Int, object: String, kind: GitTreeEntry.Kind)
            case generated([UInt8], mode: UInt32)
        }

        /// The path in the archive, e.g. `repo/src/main.c`.
        var path: [UInt8]
        var content: Content
        /// Data bytes (0 for directories and symlinks), for the size estimate.
        var size: Int64
    }

    /// The repositories blobs are read from: the top one first, then included submodules.
    private(set) var sources: [GitRepository] = []
    private(set) var skippedSubmodules: [String] = []
    /// Whether the top-level tree has a `construir` file (or symlink).
    private(set) var hasScript = false
    /// The top-level tree's `construir.yml` (`JobLayout.manifestName`), if it has one.
    private(set) var manifest: GitTreeEntry?
    private var files: [Entry] = []

    static let repositoryPrefix = Array(JobLayout.repositoryDirectory.utf8)

    init(repository: GitRepository, commit: String, recurseSubmodules: Bool) throws(ConstruirError) {
        let top = try repository.tree(commit)
        hasScript = top.contains { entry in
            guard entry.path == Array(JobLayout.scriptName.utf8) else { return false }
            if case .submodule = entry.kind { return false }
            return true
        }
        manifest = top.first { $0.path == Array(JobLayout.manifestName.utf8) }
        try add(top, from: repository, commit: commit, prefix: [], workTree: repository.workTree, recurse: recurseSubmodules)
    }

    mutating func addGenerated(path: String, contents: [UInt8], mode: UInt32) {
        files.append(Entry(path: Array(path.utf8), content: .generated(contents, mode: mode), size: Int64(contents.count)))
    }

    /// The archive's entries in their fixed order: first every directory (those above the
    /// files), sorted by path, so each exists before anything is put in it; then the files,
    /// sorted by path except that files with the same name are kept together, at the place of
    /// the first of them.
    ///
    /// Why not plain path order: same-named files are often copies or versions of each other
    /// (`A/FileSystem.swift` and `_A/FileSystem.swift`); next to each other the compressor sees
    /// them as one, even across the xz block boundary that plain path order may put between
    /// them. The order depends only on the paths (bytewise comparison), never on the file
    /// system, git's order or the locale. See bench/package.md for the measurements.
    func sortedEntries() -> [Entry] {
        var directories = Set<[UInt8]>()
        for file in files {
            var end = file.path.count
            while let slash = file.path[..<end].lastIndex(of: UInt8(ascii: "/")) {
                directories.insert(Array(file.path[..<slash]))
                end = slash
            }
        }
        let sortedDirectories = directories.sorted { $0.lexicographicallyPrecedes($1) }
            .map { Entry(path: $0, content: .directory, size: 0) }
        return sortedDirectories + Self.groupingSameNames(files)
    }

    /// `files` sorted by (path of the first file with the same name, path).
    static func groupingSameNames(_ files: [Entry]) -> [Entry] {
        let byPath = files.sorted { $0.path.lexicographicallyPrecedes($1.path) }
        var anchors: [ArraySlice<UInt8>: Int] = [:]
        var keyed: [(anchor: Int, entry: Entry)] = []
        keyed.reserveCapacity(byPath.count)
        for (index, entry) in byPath.enumerated() {
            let name = entry.path.lastIndex(of: UInt8(ascii: "/")).map { entry.path[($0 + 1)...] } ?? entry.path[...]
            let anchor = anchors[name] ?? index
            if anchors[name] == nil { anchors[name] = index }
            keyed.append((anchor, entry))
        }
        // Stable by construction: ties on the anchor keep path order (their index order).
        return keyed.enumerated().sorted { lhs, rhs in
            lhs.element.anchor != rhs.element.anchor ? lhs.element.anchor < rhs.element.anchor : lhs.offset < rhs.offset
        }.map(\.element.entry)
    }

    private mutating func add(_ entries: [GitTreeEntry], from repository: GitRepository, commit: String, prefix: [UInt8],
                              workTree: String?, recurse: Bool) throws(ConstruirError) {
        let source = sources.count
        sources.append(repository)
        var submodules: [GitTreeEntry] = []
        for entry in entries {
            if case .submodule = entry.kind {
                submodules.append(entry)
                continue
            }
            let size: Int64 = if case .file = entry.kind { entry.size ?? 0 } else { 0 }
            files.append(Entry(path: Self.repositoryPrefix + [UInt8(ascii: "/")] + prefix + entry.path,
                               content: .blob(source: source, object: entry.object, kind: entry.kind), size: size))
        }
        guard !submodules.isEmpty else { return }
        guard recurse else {
            skippedSubmodules += submodules.map { String(decoding: prefix + $0.path, as: UTF8.self) }
            return
        }
        let names = try repository.submoduleNames(at: commit)
        for submodule in submodules {
            let path = String(decoding: submodule.path, as: UTF8.self)
            let shown = String(decoding: prefix + submodule.path, as: UTF8.self)
            let subWorkTree = workTree.map { "\($0)/\(path)" }
            let found = try Self.findSubmodule(commit: submodule.object, name: names[path], workTree: subWorkTree,
                                               parent: repository, shownPath: shown)
            let tree = try found.tree(submodule.object)
            try add(tree, from: found, commit: submodule.object, prefix: prefix + submodule.path + [UInt8(ascii: "/")],
                    workTree: subWorkTree, recurse: true)
        }
    }

    /// The repository that holds a submodule's recorded commit: its git directory under the
    /// parent's `modules/NAME`, or its checkout in the parent's work tree.
    private static func findSubmodule(commit: String, name: String?, workTree: String?, parent: GitRepository,
                                      shownPath: String) throws(ConstruirError) -> GitRepository {
        var looked: [String] = []
        if let name {
            let directory = "\(parent.commonDirectory)/modules/\(name)"
            looked.append(directory)
            if FileSystem.isDirectory(directory) {
                let candidate = GitRepository(gitDirectory: directory, commonDirectory: directory, workTree: nil)
                if try candidate.hasCommit(commit) { return candidate }
            }
        }
        if let workTree {
            looked.append(workTree)
            if FileSystem.exists("\(workTree)/.git"), let candidate = try? GitRepository(path: workTree),
               candidate.workTree.map(realPath) == realPath(workTree), try candidate.hasCommit(commit) {
                return candidate
            }
        }
        func realPath(_ path: String) -> String { (path as NSString).resolvingSymlinksInPath }
        let places = looked.isEmpty ? "no .gitmodules entry or checkout" : "looked in \(looked.joined(separator: " and "))"
        throw ConstruirError(.notFound, "submodule \(shownPath): its commit \(commit) is not available locally (\(places)); run `git submodule update --init --recursive` first")
    }
}
