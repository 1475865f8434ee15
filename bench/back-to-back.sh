#!/usr/bin/env bash
# Back-to-back jobs against jobs that find the runner idle: does a job pay for the teardown of
# the VM before it? One runner (cold, --slots 1) on image 0, the trivial job (jobs/hello).
#
# Idle: a job is dropped 3 s after the previous result.json appeared (its VM long gone).
# Back to back: the next job is dropped the moment the previous result.json appears.
# Each row: rename into queue/ → result.json (as the script sees it), and the job's own
# durations.vm_start (define and start of its domain, from its result.json).
#
# Usage: bench/back-to-back.sh [RUNS=7] [RUNNER OPTIONS...]   (after `swift build -c release` and image 0)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_image0
runs=${1:-7}
shift || true
jobs/make-job.sh jobs/hello "$work/hello.job" >/dev/null
mkdir -p "$work/queue" "$work/done"
"$bin" run --queue "$work/queue" --done "$work/done" --memory 512M --allow-root --slots 1 "$@" >"$work/runner.log" 2>&1 &
runner=$!

n=0
# drop: renames the next job into the queue, $start the time it did.
drop() {
    n=$((n + 1))
    cp "$work/hello.job" "$work/queue/.hello.part"
    start=$(now)
    mv "$work/queue/.hello.part" "$work/queue/hello_i0.tar.xz"
}
result_of() { [ "$1" -eq 1 ] && echo "$work/done/hello/result.json" || echo "$work/done/hello.$1/result.json"; }
# finish START: waits for job $n's result; prints "seconds vm_start".
finish() {
    local target; target=$(result_of "$n")
    while [ ! -e "$target" ]; do sleep 0.005; done
    local took; took=$(awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
    sleep 0.02   # result.json is written whole before its rename, but give the reader a moment
    grep -q '"status" : "passed"' "$target" || { echo "job $n did not pass: $(cat "$target")" >&2; exit 1; }
    local vm_start; vm_start=$(grep -o '"vm_start" : [0-9.]*' "$target" | awk '{ printf "%.2f", $3 }')
    echo "$took $vm_start"
}
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

drop; finish "$start" >/dev/null   # warm-up: libvirt's QEMU capability probe
idle=() idle_vm=() b2b=() b2b_vm=()
for _ in $(seq "$runs"); do
    sleep 3
    drop; read -r t v < <(finish "$start"); idle+=("$t"); idle_vm+=("$v")
done
sleep 3
drop; finish "$start" >/dev/null
for _ in $(seq "$runs"); do
    drop; read -r t v < <(finish "$start"); b2b+=("$t"); b2b_vm+=("$v")
done
mi=$(median "${idle[@]}"); mb=$(median "${b2b[@]}")
echo "| trivial job, one runner | rename → result.json (s) | median (s) | vm_start (s) | median vm_start (s) |"
echo "|---|---|---:|---|---:|"
echo "| runner idle (3 s since the last result) | ${idle[*]} | $mi | ${idle_vm[*]} | $(median "${idle_vm[@]}") |"
echo "| back to back (dropped as the last result appeared) | ${b2b[*]} | $mb | ${b2b_vm[*]} | $(median "${b2b_vm[@]}") |"
echo
awk -v a="$mb" -v b="$mi" 'BEGIN { printf "back to back / idle: %.2f\n", a / b }'
