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
/// `outputFunction`) and exits with the script's exit code. A repository whose construir.yml
/// has `stages:` gets no wrapper: the runner runs the stages in `/repo`.
public enum JobLayout {
    /// Where the repository's files go in the job.
    public static let repositoryDirectory = "repo"
    /// The job directory the guest runs.
    public static let jobDirectory = "job"
    /// The wrapper script, relative to the archive root.
    public static let wrapperPath = "job/construir"
    /// The script a repository must have at its root, unless its manifest has stages.
    public static let scriptName = "construir"
    /// The repository's own manifest, at its root: becomes the job's `job/construir.yml`.
    public static let manifestName = "construir.yml"
    /// Marks the lines that set the environment (tests run just those with bash).
    public static let environmentBegin = "# --- environment ---"
    public static let environmentEnd = "# --- end of environment ---"

    /// Marks the output function (tests run it with bash against temporary directories).
    public static let outputBegin = "# --- output ---"
    public static let outputEnd = "# --- end of output ---"

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
        lines.append(environmentEnd)
        lines += outputFunction
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

    /// `write_output ARTIFACTS CONSOLE DEVICE`: the job's output as a tar.xz. Honest replicas of a
    /// reproducible build must agree byte for byte (a hub compares them), so with GNU tar (images
    /// 0 and 1 have it) the archive has a fixed order, every time `SOURCE_DATE_EPOCH`, owner 0/0
    /// without names, the gnu format (no pax atime/ctime records) and single-threaded xz at a
    /// fixed preset. Another tar gets the plain command, which is not reproducible.
    static let outputFunction = [
        outputBegin,
        "# write_output ARTIFACTS CONSOLE DEVICE: ARTIFACTS and a copy of CONSOLE, named",
        "# job_output.txt, as a tar.xz on DEVICE. CONSOLE still grows (the agent tees the",
        "# console into it), so a snapshot is archived: never a file that changes while read.",
        "write_output() {",
        "    local artifacts=$1 console=$2 device=$3 snapshot statuses tar_status xz_status",
        "    snapshot=$(mktemp -d) || return 1",
        "    cp \"$console\" \"$snapshot/job_output.txt\" || : > \"$snapshot/job_output.txt\"",
        "    chmod 0644 \"$snapshot/job_output.txt\"",
        "    if [[ $(tar --version 2>/dev/null) == *\"GNU tar\"* ]]; then",
        "        tar --sort=name --format=gnu --mtime=\"@$SOURCE_DATE_EPOCH\" --owner=0 --group=0 --numeric-owner \\",
        "            -C \"$artifacts\" -cf - . -C \"$snapshot\" job_output.txt | xz -T1 -6 --check=crc64 -c > \"$device\"",
        "        statuses=(\"${PIPESTATUS[@]}\")",
        "        tar_status=${statuses[0]} xz_status=${statuses[1]}",
        "    else",
        "        echo \"construir: tar is not GNU tar, so the output archive is not reproducible\" >&2",
        "        tar -C \"$artifacts\" -cJf \"$device\" . -C \"$snapshot\" job_output.txt",
        "        tar_status=$? xz_status=0",
        "    fi",
        "    rm -rf \"$snapshot\"",
        "    # With the snapshot nothing the wrapper knows of changes while read: GNU tar's 1 (\"file",
        "    # changed as we read it\") now means something the script left running still writes",
        "    # to ARTIFACTS. The archive is written but may differ between runs, so say so.",
        "    if [ \"$tar_status\" -eq 1 ] && [ \"$xz_status\" -eq 0 ]; then",
        "        echo \"construir: a file in $artifacts changed while it was archived; the output may not be reproducible\" >&2",
        "    elif [ \"$tar_status\" -ne 0 ] || [ \"$xz_status\" -ne 0 ]; then",
        "        echo \"construir: writing $artifacts to the output disk failed (tar exit $tar_status, xz exit $xz_status)\" >&2",
        "        return 1",
        "    fi",
        "}",
        outputEnd,
    ]
}
