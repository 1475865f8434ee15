import JobModel

/// The layout of a job made from a git repository, compatible with bneijt/construir's git job:
///
///     repo/...           the files git tracks at the commit (no .git)
///     job/construir      the wrapper the guest runs (`bash /job/construir`); not with stages
///     job/construir.yml  the repository's construir.yml, the pinned image digest, and with
///                        stages the environment (`JobManifestWriter`); only when one is set
///     job/source.json    the commit, and whether uncommitted changes are in (`PackagedSource`)
///
/// The guest extracts the job at `/`, so the repository is `/repo` and the wrapper
/// `/job/construir`. The wrapper exports the environment, runs `/repo/construir` in `/repo`
/// (directly if it is executable, else with bash), then writes `/repo/artifacts` and
/// `/job_output.txt` to the output disk as a tar.xz (byte-reproducible with GNU tar: see
/// `OutputArchiveScript`) and exits with the script's exit code. A repository whose construir.yml
/// has `stages:` gets no wrapper: the runner runs the stages in `/repo`.
package enum JobLayout {
    /// Where the repository's files go in the job.
    package static let repositoryDirectory = "repo"
    /// The job directory the guest runs.
    package static let jobDirectory = "job"
    /// The wrapper script, relative to the archive root.
    package static let wrapperPath = "job/construir"
    /// The script a repository must have at its root, unless its manifest has stages.
    package static let scriptName = "construir"
    /// The repository's own manifest, at its root: becomes the job's `job/construir.yml`.
    package static let manifestName = "construir.yml"
    /// Marks the lines that set the environment (tests run just those with bash).
    package static let environmentBegin = "# --- environment ---"
    package static let environmentEnd = "# --- end of environment ---"

    /// The wrapper's text. Every value is quoted by `ShellQuote`, so no value can run code.
    package static func wrapperScript(environment: [EnvironmentVariable], commit: String) -> String {
        var lines = [
            "#!/bin/bash",
            "# Written by `construir package` for commit \(commit).",
            "# Runs /repo/construir in /repo, then writes /repo/artifacts and /job_output.txt",
            "# to the output disk (/dev/sdb) as a tar.xz; exits with the script's exit code.",
            environmentBegin,
        ]
        lines += environment.map(\.exportLine)
        lines.append(environmentEnd)
        lines += OutputArchiveScript.function
        lines += [
            "mkdir -p /repo/artifacts",
            "cd /repo || exit 1",
            "if [ -x ./construir ]; then",
            "    ./construir",
            "else",
            "    bash ./construir",
            "fi",
            "status=$?",
            "write_output /repo/artifacts /job_output.txt /dev/sdb",
            "exit \"$status\"",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
