import JobModel

/// The layout of a job made from a git repository, compatible with bneijt/construir's git job:
///
///     repo/...           the files git tracks at the commit (no .git)
///     job/construir      the wrapper the guest runs (`bash /job/construir`)
///     job/construir.yml  only with `--image-digest`: the image the job is pinned to
///
/// The guest extracts the job at `/`, so the repository is `/repo` and the wrapper
/// `/job/construir`. The wrapper exports the environment, runs `/repo/construir` in `/repo`
/// (directly if it is executable, else with bash), then writes `/repo/artifacts` and
/// `/job_output.txt` to the output disk as a tar.xz and exits with the script's exit code.
public enum JobLayout {
    /// Where the repository's files go in the job.
    public static let repositoryDirectory = "repo"
    /// The job directory the guest runs.
    public static let jobDirectory = "job"
    /// The wrapper script, relative to the archive root.
    public static let wrapperPath = "job/construir"
    /// The script a repository must have at its root.
    public static let scriptName = "construir"
    /// Marks the lines that set the environment (tests run just those with bash).
    public static let environmentBegin = "# --- environment ---"
    public static let environmentEnd = "# --- end of environment ---"

    /// `job/construir.yml` for a job pinned to one build image (see `JobManifest` in the runner).
    public static func manifest(imageDigest: String) -> String {
        "# Written by `construir package`: run only on the build image with this digest.\nimage_digest: \(imageDigest)\n"
    }

    /// The wrapper's text. Every value is quoted by `ShellQuote`, so no value can run code.
    public static func wrapperScript(environment: [EnvironmentVariable], commit: String) -> String {
        var lines = [
            "#!/bin/bash",
            "# Written by `construir package` for commit \(commit).",
            "# Runs /repo/construir in /repo, then writes /repo/artifacts and /job_output.txt",
            "# to the output disk (/dev/sdb) as a tar.xz; exits with the script's exit code.",
            environmentBegin,
        ]
        lines += environment.map(\.exportLine)
        lines += [
            environmentEnd,
            "mkdir -p /repo/artifacts",
            "cd /repo || exit 1",
            "if [ -x ./construir ]; then",
            "    ./construir",
            "else",
            "    bash ./construir",
            "fi",
            "status=$?",
            "tar -C /repo/artifacts -cJf /dev/sdb . -C / job_output.txt",
            "tar_status=$?",
            "# 1 is GNU tar's \"a file changed as we read it\": job_output.txt grows while this runs.",
            "if [ \"$tar_status\" -gt 1 ]; then",
            "    echo \"construir: writing /repo/artifacts to the output disk failed (tar exit $tar_status)\" >&2",
            "fi",
            "exit \"$status\"",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}
