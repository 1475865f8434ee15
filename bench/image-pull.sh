#!/usr/bin/env bash
# Fetching a build image from a hub instead of building it.
# A hub on loopback serving this checkout's images/ (`hub serve --images images`), and
# `construir image pull INDEX` into an empty images directory, RUNS times: the wall time of
# each pull (download, sha256 of every file as it arrives, the digest, the install), beside
# the recorded time of `construir image build INDEX` (images/README.md: about 2.5 minutes for
# image 1, 1.5 with the package cache).
#
# Usage: bench/image-pull.sh [INDEX=1] [RUNS=3]     (after `swift build -c release`)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
index=${1:-1}
runs=${2:-3}
[ -f "images/$index/image.json" ] || { echo "build image $index first: construir image build $index" >&2; exit 1; }
source bench/hub-lib.sh
start_hub 60s --images images
bytes=$(python3 -c 'import json, os, sys; m = json.load(open(sys.argv[1])); print(sum(os.path.getsize(os.path.join(os.path.dirname(sys.argv[1]), f)) for f in m["files"]))' "images/$index/image.json")
times=()
for _ in $(seq "$runs"); do
    rm -rf "$work/pulled"
    mkdir -m 0755 "$work/pulled"
    sync
    t0=$(now)
    "$bin" image pull "$index" --hub "$hub_url" --token-file "$work/runner.token" --images "$work/pulled" >"$work/pull.out"
    t1=$(now)
    times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')")
done
built="see images/README.md"
[ "$index" != 1 ] || built="about 150 s (90 s with the package cache)"
echo "| image | files (MiB) | pulls (s) | median (s) | MiB/s | image build $index (recorded) |"
echo "|---:|---:|---|---:|---:|---|"
printf '%s\n' "${times[@]}" | sort -n | awk -v i="$index" -v b="$bytes" -v all="${times[*]}" -v built="$built" \
    '{ t[NR] = $1 } END { m = t[int((NR + 1) / 2)]; printf "| %d | %.1f | %s | %.2f | %.0f | %s |\n", i, b / 1048576, all, m, b / 1048576 / m, built }'
