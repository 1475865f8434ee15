#!/usr/bin/env bash
# Throughput: JOBS trivial jobs (jobs/hello on image 0) through one runner with --slots 1 and
# --slots 2, from the first rename into queue/ until the runner (--exit-when-idle) exits.
# A warm-up job first fills libvirt's capability cache, so neither run pays for the probe.
#
# Usage: bench/throughput.sh [JOBS=10]     (after `swift build -c release` and image 0)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_image0
count=${1:-10}
jobs/make-job.sh jobs/hello "$work/hello.job" >/dev/null
run() {
    local slots=$1 dir="$work/slots$1"
    mkdir -p "$dir/queue" "$dir/done"
    cp "$work/hello.job" "$dir/queue/warmup_i0.tar.xz"
    "$bin" run --queue "$dir/queue" --done "$dir/done" --memory 256M --slots "$slots" --exit-when-idle >"$dir/warmup.log" 2>&1
    for i in $(seq "$count"); do cp "$work/hello.job" "$dir/queue/.job$i.part"; done
    local start; start=$(now)
    for i in $(seq "$count"); do mv "$dir/queue/.job$i.part" "$dir/queue/job${i}_i0.tar.xz"; done
    "$bin" run --queue "$dir/queue" --done "$dir/done" --memory 256M --slots "$slots" --exit-when-idle >"$dir/runner.log" 2>&1
    local end; end=$(now)
    local passed; passed=$(grep -l '"status" : "passed"' "$dir"/done/job*/result.json | wc -l)
    [ "$passed" -eq "$count" ] || { echo "only $passed of $count jobs passed (slots $slots)" >&2; exit 1; }
    awk -v a="$start" -v b="$end" -v n="$count" -v s="$slots" \
        'BEGIN { printf "| %d | %d | %.1f | %.2f | %.1f |\n", s, n, b - a, (b - a) / n, n * 60 / (b - a) }'
}
echo "| slots | jobs | wall (s) | s per job | jobs per minute |"
echo "|---:|---:|---:|---:|---:|"
run 1
run 2
