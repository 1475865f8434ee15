#!/usr/bin/env bash
# The cost of replication: jobs per hour through a hub with two pull runners (one slot each),
# with --replicas 1, with --replicas 2, and with --replicas 2 --adaptive once both runners are
# trusted. JOBS copies of the trivial job (jobs/hello, image 0) are dropped into the hub's
# queue at once; the time runs until the last result.json is in done/. Each setting gets a
# fresh hub and fresh runners, after warm-up jobs (libvirt's capability probe; for --adaptive,
# TRUST replicated jobs that both runners agree on, its --trust-after). Prints a markdown table.
#
# Usage: bench/hub-replicas.sh [JOBS=10] [TRUST=10]     (after `swift build -c release` and image 0)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_image0
jobs=${1:-10}
trust=${2:-10}
jobs/make-job.sh jobs/hello "$work/hello.job" >/dev/null
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# Drops COUNT jobs named PREFIX-N into QUEUE at once.
drop() {
    local queue=$1 prefix=$2 count=$3
    for i in $(seq "$count"); do cp "$work/hello.job" "$queue/.$prefix-$i.part"; done
    for i in $(seq "$count"); do mv "$queue/.$prefix-$i.part" "$queue/$prefix-${i}_i0.tar.xz"; done
}
# Waits until DONE holds COUNT result.json files of jobs named PREFIX-*.
wait_done() {
    local done=$1 prefix=$2 count=$3
    until [ "$(find "$done" -maxdepth 2 -path "$done/$prefix-*/result.json" | wc -l)" -ge "$count" ]; do sleep 0.05; done
}

measure() {
    local replicas=$1 adaptive=${2:-}
    local dir="$work/r$1$adaptive"
    mkdir -p "$dir/queue" "$dir/done"
    local extra=() warm=$((2 / replicas))
    if [ -n "$adaptive" ]; then
        extra=(--adaptive --trust-after "$trust")
        warm=$trust
    fi
    for r in a b; do
        "$bin" hub token add "bench-$r" --role runner --tokens "$dir/tokens.json" >"$dir/$r.token"
        chmod 600 "$dir/$r.token"
    done
    "$bin" hub serve --listen 127.0.0.1:0 --queue "$dir/queue" --done "$dir/done" --tokens "$dir/tokens.json" \
        --replicas "$replicas" "${extra[@]}" >"$dir/hub.log" 2>&1 &
    pids+=($!)
    local url=""
    for _ in $(seq 300); do
        url=$(grep -o 'hub listening at http://127.0.0.1:[0-9]*' "$dir/hub.log" | head -1 | sed 's/hub listening at //') || true
        [ -n "$url" ] && break
        sleep 0.1
    done
    [ -n "$url" ] || { echo "the hub did not start: $(cat "$dir/hub.log")" >&2; exit 1; }
    for r in a b; do
        "$bin" run --hub "$url" --token-file "$dir/$r.token" --state "$dir/state-$r" --memory 512M --slots 1 >"$dir/$r.log" 2>&1 &
        pids+=($!)
    done
    # Warm-up: one job per runner's worth of replicas, so both have probed libvirt; with
    # --adaptive, as many agreed jobs as it takes to trust both runners.
    drop "$dir/queue" warm "$warm"
    wait_done "$dir/done" warm "$warm"
    if [ -n "$adaptive" ]; then
        local trusted; trusted=$(grep -l '"state" : "agreed"' "$dir"/done/warm-*/result.json | wc -l) || true
        [ "$trusted" -eq "$warm" ] || { echo "only $trusted of $warm warm-up jobs agreed: the runners are not trusted" >&2; exit 1; }
    fi
    local start; start=$(now)
    drop "$dir/queue" job "$jobs"
    wait_done "$dir/done" job "$jobs"
    local seconds; seconds=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
    local passed; passed=$(grep -l '"status" : "passed"' "$dir"/done/job-*/result.json | wc -l)
    [ "$passed" -eq "$jobs" ] || { echo "only $passed of $jobs jobs passed with --replicas $replicas" >&2; exit 1; }
    local alone=0
    if [ "$replicas" -gt 1 ]; then
        local agreed; agreed=$(grep -l '"state" : "agreed"' "$dir"/done/job-*/result.json | wc -l) || true  # none: grep fails
        alone=$(grep -l '"state" : "trusted"' "$dir"/done/job-*/result.json | wc -l) || true
        [ $((agreed + alone)) -eq "$jobs" ] || { echo "only $agreed agreed and $alone trusted of $jobs jobs" >&2; exit 1; }
    fi
    echo "| $replicas${adaptive:+ --adaptive} | $jobs | $alone | $seconds | $(awk -v n="$jobs" -v s="$seconds" 'BEGIN { printf "%.0f", n * 3600 / s }') |"
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    pids=()
}

echo "| --replicas | jobs | run alone | wall (s) | jobs per hour |"
echo "|---|---:|---:|---:|---:|"
measure 1
measure 2
measure 2 adaptive
