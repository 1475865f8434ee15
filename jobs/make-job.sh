#!/bin/bash
# Pack a construir job: make-job.sh DIR OUTFILE
# DIR must contain job/construir (the script the guest runs with bash, in /job), or a
# job/construir.yml that lists stages: (docs/guest-protocol.md).
# OUTFILE becomes DIR/job as a tar.xz, zero padded to at least 1 MiB and to a
# multiple of 512 bytes (the guest reads it as a disk).
set -euo pipefail
if [ $# -ne 2 ]; then
    echo "usage: $0 DIR OUTFILE" >&2
    exit 2
fi
dir=$1 out=$2
if [ ! -f "$dir/job/construir" ] && ! grep -q '^stages:' "$dir/job/construir.yml" 2>/dev/null; then
    echo "make-job: $dir/job/construir not found (nor stages: in $dir/job/construir.yml)" >&2
    exit 1
fi
tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT
tar -C "$dir" --owner=0 --group=0 --numeric-owner --sort=name -cJf "$tmp" job
size=$(stat -c %s "$tmp")
min=$((1024 * 1024))
if [ "$size" -lt "$min" ]; then
    truncate -s "$min" "$tmp"
elif [ $((size % 512)) -ne 0 ]; then
    truncate -s $(( (size / 512 + 1) * 512 )) "$tmp"
fi
mv -f "$tmp" "$out"
trap - EXIT
echo "make-job: $out ($size bytes of tar.xz, $(stat -c %s "$out") bytes padded)"
