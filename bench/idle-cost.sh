#!/usr/bin/env bash
# Idle cost: CPU time and wake-ups of a runner watching an empty queue for SECONDS (default 60).
# The runner sleeps on inotify and libvirt's event loop; the only timer is the 60 s scan for
# jobs orphaned by runners on other hosts.
#
# Further arguments go to `construir run`: `--pause-when-busy 50 --pause-on-battery` measures the
# volunteer's pause conditions, which look at /proc/stat every second and the power supplies
# every 10 s.
#
# Usage: bench/idle-cost.sh [SECONDS=60] [RUN OPTIONS...]     (after `swift build -c release`)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
seconds=${1:-60}
shift || true
mkdir -p "$work/queue" "$work/done"
"$bin" run --queue "$work/queue" --done "$work/done" "$@" >"$work/runner.log" 2>&1 &
runner=$!
sleep 5   # start-up: libvirt connection, first scan
ticks=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$runner/stat"; }
# Context switches per thread id, so threads that come or go between the samples do not skew it.
switches() { for t in /proc/$runner/task/*; do echo "${t##*/} $(awk '/ctxt_switches/ { s += $2 } END { print s }' "$t/status")"; done; }
c0=$(cpu); switches > "$work/s0"
sleep "$seconds"
c1=$(cpu); switches > "$work/s1"
wakeups=$(awk 'NR == FNR { a[$1] = $2; next } ($1 in a) { s += $2 - a[$1] } END { print s + 0 }' "$work/s0" "$work/s1")
echo "| idle for (s) | CPU time (ms) | CPU share | context switches (all threads) |"
echo "|---:|---:|---:|---:|"
awk -v c="$((c1 - c0))" -v t="$ticks" -v s="$seconds" -v w="$wakeups" \
    'BEGIN { ms = c * 1000 / t; printf "| %d | %.0f | %.4f %% | %d |\n", s, ms, ms / (s * 10), w }'
