#!/usr/bin/env bash
# Warm VMs (`run --warm`) against cold boots, with the trivial job (jobs/hello on image 0).
#
# Latency: rename into queue/ → result.json, interleaved: a raw qemu-system-x86_64 cold boot
# of the same guest (bench/raw-qemu-boot.sh), a cold runner, and a warm runner. Each warm run
# starts once the runner has a warm VM ready again (its replacement booted after the last job),
# which is what a job arriving at an idle runner finds.
# Throughput: JOBS trivial jobs dropped at once into the queue of a runner with --slots 2,
# cold and with --warm 1 and 2, from the drop to the last result.json.
# Idle cost: CPU time and memory of the warm runner's guests while they wait.
#
# Usage: bench/warm.sh [RUNS=5] [JOBS=20]     (after `swift build -c release` and image 0)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_image0
runs=${1:-5}
jobs=${2:-20}
jobs/make-job.sh jobs/hello "$work/hello.job" >/dev/null
common=(--memory 512M --allow-root --warm-image 0)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# start_runner NAME RUN-OPTIONS...: a runner on $work/NAME/{queue,done}.
start_runner() {
    local name=$1; shift
    mkdir -p "$work/$name/queue" "$work/$name/done"
    "$bin" run --queue "$work/$name/queue" --done "$work/$name/done" "${common[@]}" "$@" >"$work/$name.log" 2>&1 &
    pids+=($!)
}
# ready_vms NAME: warm VMs of runner NAME whose agent waits for a job.
ready_vms() { cat "$work/$1"/queue/.construir/runners/*.warm.json 2>/dev/null | grep -c '"ready"' || true; }
wait_ready() { local name=$1 want=$2; while [ "$(ready_vms "$name")" -lt "$want" ]; do sleep 0.05; done; }
# queue_job NAME N: drops a job into runner NAME's queue, waits for its Nth result; prints seconds.
queue_job() {
    local name=$1 n=$2 target
    [ "$n" -eq 1 ] && target="$work/$name/done/hello/result.json" || target="$work/$name/done/hello.$n/result.json"
    cp "$work/hello.job" "$work/$name/queue/.hello.part"
    local start; start=$(now)
    mv "$work/$name/queue/.hello.part" "$work/$name/queue/hello_i0.tar.xz"
    while [ ! -e "$target" ]; do sleep 0.01; done
    awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}
raw_boot() {
    local start; start=$(now)
    bench/raw-qemu-boot.sh images "$work/hello.job" "$work/raw" >/dev/null
    awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'
}
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

start_runner cold --warm 0 --slots 1
start_runner warm --warm 1 --slots 1
n=1
queue_job cold $n >/dev/null   # warm-up: the first job also waits for libvirt's QEMU capability probe
wait_ready warm 1
queue_job warm $n >/dev/null
raw=() cold=() warm=()
for _ in $(seq "$runs"); do
    raw+=("$(raw_boot)")
    n=$((n + 1)); cold+=("$(queue_job cold $n)")
    wait_ready warm 1
    warm+=("$(queue_job warm $n)")
done
grep -q '"warm" : {' "$work/warm/done/hello.$n/result.json" || { echo "the warm runner's job did not run warm" >&2; exit 1; }
grep -q '"status" : "passed"' "$work/warm/done/hello.$n/result.json" || { echo "the job did not pass" >&2; exit 1; }

for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
mr=$(median "${raw[@]}"); mc=$(median "${cold[@]}"); mw=$(median "${warm[@]}")
ratio() { awk -v a="$1" -v b="$mr" 'BEGIN { printf "%.2f", a / b }'; }
echo "| path | runs (s) | median (s) | × raw |"
echo "|---|---|---:|---:|"
echo "| raw qemu-system-x86_64 cold boot | ${raw[*]} | $mr | 1.00 |"
echo "| construir run, cold: rename into queue/ → result.json | ${cold[*]} | $mc | $(ratio "$mc") |"
echo "| construir run --warm 1: rename into queue/ → result.json | ${warm[*]} | $mw | $(ratio "$mw") |"
echo

# Idle cost: N warm guests (512 MiB each) and their runner over 30 s once all are ready.
idle() {
    local n=$1 name=idle$1
    start_runner "$name" --warm "$n" --slots 1
    local runner_pid=${pids[-1]}
    wait_ready "$name" "$n"
    sleep 2
    local guests; guests=$(pgrep -f 'guest=construir-warm' | tr '\n' ' ')
    cpu_of() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo "$t"; }
    local g0 r0 g1 r1; g0=$(cpu_of $guests); r0=$(cpu_of "$runner_pid")
    sleep 30
    g1=$(cpu_of $guests); r1=$(cpu_of "$runner_pid")
    local rss=0 p; for p in $guests; do rss=$((rss + $(awk '/VmRSS/ { print $2 }' "/proc/$p/status"))); done
    local hz; hz=$(getconf CLK_TCK)
    kill "$runner_pid" 2>/dev/null || true
    wait "$runner_pid" 2>/dev/null || true
    echo "| $n | $(( (g1 - g0) * 1000 / hz )) | $(awk -v c="$((g1 - g0))" -v h="$hz" 'BEGIN { printf "%.2f", c * 100 / h / 30 }') % | $((rss / 1024)) | $(( (r1 - r0) * 1000 / hz )) |"
}
echo "| idle warm guests (512 MiB each) | guests' CPU in 30 s (ms) | of one core | guests' resident memory (MiB) | runner's CPU in 30 s (ms) |"
echo "|---:|---:|---:|---:|---:|"
idle 1
idle 2
idle 4
echo

# Throughput: JOBS at once, --slots 2, with WARM warm VMs (0: cold).
throughput() {
    local name=$1 warm=$2
    start_runner "$name" --slots 2 --warm "$warm"
    [ "$warm" -eq 0 ] || wait_ready "$name" "$warm"
    for i in $(seq "$jobs"); do cp "$work/hello.job" "$work/$name/queue/.j$i.part"; done
    local start; start=$(now)
    for i in $(seq "$jobs"); do mv "$work/$name/queue/.j$i.part" "$work/$name/queue/hello$i.tar.xz"; done
    while [ "$(find "$work/$name/done" -name result.json | wc -l)" -lt "$jobs" ]; do sleep 0.05; done
    local took; took=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    local warmed; warmed=$( (grep -l '"warm" : {' "$work/$name"/done/*/result.json || true) | wc -l)
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true
    echo "| --warm $warm | $took | $(awk -v t="$took" -v j="$jobs" 'BEGIN { printf "%.2f", j / t }') | $warmed of $jobs |"
}
echo "| $jobs trivial jobs, --slots 2 | wall (s) | jobs/s | ran warm |"
echo "|---|---:|---:|---:|"
throughput t-cold 0
throughput t-warm1 1
throughput t-warm2 2
