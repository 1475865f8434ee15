import JobModel

/// What was written.
package struct PackageResult: Sendable, Equatable {
    /// The job files, one per requested image, absolute paths.
    package var files: [String]
    /// `REPO_SHORTREV`, the job's name in `done/`.
    package var jobName: String
    package var commit: String
    package var shortCommit: String
    /// The variables the wrapper exports, in order.
    package var environment: [EnvironmentVariable]
    /// Archive entries (directories, files, symlinks, the wrapper).
    package var entries: Int
    /// Length of the uncompressed tar stream.
    package var tarSize: Int64
    /// Length of the xz stream.
    package var archiveSize: Int64
    /// Size of each job file (the xz stream plus zero padding).
    package var fileSize: Int64
    /// Submodule paths that were left out (no `--recurse-submodules`).
    package var skippedSubmodules: [String]
    /// What `job/source.json` records: the commit, or HEAD and whether the working tree differed.
    package var source: PackagedSource
    /// Whether the job runs the stages of the repository's construir.yml (and has no wrapper).
    package var stages: Bool
}
