#!/usr/bin/env bash
# Per-job overhead of the hub path against a local queue: the same trivial job (jobs/hello on
# image 0), timed from its rename into a queue until result.json exists in done/. One local
# runner works queue-local/; one pull runner works the hub's queue over loopback HTTP. Runs are
# interleaved and only one job runs at a time. Prints a markdown table of medians.
#
# Usage: bench/hub-overhead.sh [RUNS=5]     (after `swift build -c release` and image 0)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_image0
runs=${1:-5}
source bench/hub-lib.sh

mkdir -p "$work/local/queue" "$work/local/done"
jobs/make-job.sh jobs/hello "$work/hello.job" >/dev/null
"$bin" run --queue "$work/local/queue" --done "$work/local/done" --memory 512M --slots 1 >"$work/local.log" 2>&1 &
local_runner=$!
start_hub 60s
start_pull_runner

# Drops the job into QUEUE and waits for DONE/hello(.N)/result.json; prints the seconds taken.
time_job() {
    local queue=$1 done=$2 n=$3 target
    [ "$n" -eq 1 ] && target="$done/hello/result.json" || target="$done/hello.$n/result.json"
    cp "$work/hello.job" "$queue/.hello.part"
    local start; start=$(now)
    mv "$queue/.hello.part" "$queue/hello_i0.tar.xz"
    while [ ! -e "$target" ]; do sleep 0.01; done
    awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}
n=1
time_job "$work/local/queue" "$work/local/done" $n >/dev/null   # warm-up: libvirt's capability probe
time_job "$work/hub/queue" "$work/hub/done" $n >/dev/null
local_times=() hub_times=()
for _ in $(seq "$runs"); do
    n=$((n + 1))
    local_times+=("$(time_job "$work/local/queue" "$work/local/done" $n)")
    hub_times+=("$(time_job "$work/hub/queue" "$work/hub/done" $n)")
done
kill "$local_runner" 2>/dev/null || true
for d in "$work/local/done/hello.$n" "$work/hub/done/hello.$n"; do
    grep -q '"status" : "passed"' "$d/result.json" || { echo "the job did not pass in $d" >&2; exit 1; }
done

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ml=$(median "${local_times[@]}"); mh=$(median "${hub_times[@]}")
echo "| path | runs (s) | median (s) | × local |"
echo "|---|---|---:|---:|"
echo "| local queue: rename into queue/ → result.json | ${local_times[*]} | $ml | 1.00 |"
echo "| hub: rename into the hub's queue/ → result.json in the hub's done/ | ${hub_times[*]} | $mh | $(awk -v a="$mh" -v b="$ml" 'BEGIN { printf "%.2f", a / b }') |"
