import JobModel

/// What was written.
public struct PackageResult: Sendable, Equatable {
    /// The job files, one per requested image, absolute paths.
    public var files: [String]
    /// `REPO_SHORTREV`, the job's name in `done/`.
    public var jobName: String
    public var commit: String
    public var shortCommit: String
    /// The variables the wrapper exports, in order.
    public var environment: [EnvironmentVariable]
    /// Archive entries (directories, files, symlinks, the wrapper).
    public var entries: Int
    /// Length of the uncompressed tar stream.
    public var tarSize: Int64
    /// Length of the xz stream.
    public var archiveSize: Int64
    /// Size of each job file (the xz stream plus zero padding).
    public var fileSize: Int64
    /// Submodule paths that were left out (no `--recurse-submodules`).
    public var skippedSubmodules: [String]
    /// What `job/source.json` records: the commit, or HEAD and whether the working tree differed.
    public var source: PackagedSource
    /// Whether the job runs the stages of the repository's construir.yml (and has no wrapper).
    public var stages: Bool
}
