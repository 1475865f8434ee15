#!/usr/bin/env bash
# Times a trivial job (jobs/hello on image 0) from its rename into queue/ until its
# result.json exists in done/, against the same guest booted by a raw qemu-system-x86_64
# command (bench/raw-qemu-boot.sh). Runs are interleaved; prints a markdown table of medians.
#
# Usage: bench/queue-to-result.sh [RUNS=5]     (after `swift build -c release` and image 0)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
bin=${CONSTRUIR_BIN:-.build/release/construir}   # CONSTRUIR_BIN: another build
[ -x "$bin" ] || { echo "build first: swift build -c release" >&2; exit 1; }
[ -f images/0/image.json ] || { echo "build image 0 first: images/build-image0.sh" >&2; exit 1; }

work=$(mktemp -d /tmp/construir-bench.XXXXXX)
trap 'kill "$runner" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/queue" "$work/done"
jobs/make-job.sh jobs/hello "$work/hello.job" >/dev/null

"$bin" run --queue "$work/queue" --done "$work/done" --memory 512M >"$work/runner.log" 2>&1 &
runner=$!

now() { date +%s.%N; }
# Drops the job into the queue and waits for the Nth result.json; prints the seconds taken.
queue_job() {
    local n=$1 target
    [ "$n" -eq 1 ] && target="$work/done/hello/result.json" || target="$work/done/hello.$n/result.json"
    cp "$work/hello.job" "$work/queue/.hello.part"
    local start; start=$(now)
    mv "$work/queue/.hello.part" "$work/queue/hello_i0.tar.xz"
    while [ ! -e "$target" ]; do sleep 0.01; done
    awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}
# `construir run-once`: process start to exit, result published (its libvirt root is kept
# between runs, so the warm-up below pays the capability probe for it too).
run_once() {
    local start; start=$(now)
    cp "$work/hello.job" "$work/once_i0.tar.xz"
    "$bin" run-once --quiet --memory 512M --done "$work/once-done" "$work/once_i0.tar.xz" >/dev/null 2>&1
    awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}
raw_boot() {
    local start; start=$(now)
    bench/raw-qemu-boot.sh images "$work/hello.job" "$work/raw" >/dev/null
    awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}

n=1
queue_job $n >/dev/null   # warm-up: the first job also waits for libvirt's QEMU capability probe
run_once >/dev/null
raw=() queued=() once=()
for _ in $(seq "$runs"); do
    raw+=("$(raw_boot)")
    n=$((n + 1)); queued+=("$(queue_job $n)")
    once+=("$(run_once)")
done
grep -q '"status" : "passed"' "$work/done/hello.$n/result.json" || { echo "the job did not pass" >&2; exit 1; }

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
mr=$(median "${raw[@]}"); mq=$(median "${queued[@]}"); mo=$(median "${once[@]}")
echo "| path | runs (s) | median (s) | × raw |"
echo "|---|---|---:|---:|"
echo "| raw qemu-system-x86_64 (bench/raw-qemu-boot.sh) | ${raw[*]} | $mr | 1.00 |"
echo "| construir run: rename into queue/ → result.json | ${queued[*]} | $mq | $(awk -v a="$mq" -v b="$mr" 'BEGIN { printf "%.2f", a / b }') |"
echo "| construir run-once: start → exit | ${once[*]} | $mo | $(awk -v a="$mo" -v b="$mr" 'BEGIN { printf "%.2f", a / b }') |"
