/// `write_output ARTIFACTS CONSOLE DEVICE`, the bash function that writes a job's output disk:
/// ARTIFACTS and a snapshot of CONSOLE (as job_output.txt) as a reproducible tar.xz. Both the
/// packaged job's wrapper (`JobLayout`) and the stage script (`StageDriver`) write their output
/// with it, so a hub compares the same kind of archive whichever wrote it.
package enum OutputArchiveScript {
    /// Mark the function's first and last lines (tests run it with bash against temporary
    /// directories).
    package static let begin = "# --- output ---"
    package static let end = "# --- end of output ---"

    /// The function's lines, `begin` to `end`. Honest replicas of a reproducible build must
    /// agree byte for byte (a hub compares them), so with GNU tar (images 0 and 1 have it) the archive has a fixed order, every time `SOURCE_DATE_EPOCH`, owner 0/0
    /// without names, the gnu format (no pax atime/ctime records) and single-threaded xz at a
    /// fixed preset. Another tar gets the plain command, which is not reproducible.
    package static let function = [
        begin,
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
        end,
    ]
}
