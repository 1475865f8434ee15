#!/usr/bin/env bash
# Pickup latency: from the rename of a job into queue/ to the job file appearing in
# queue/.construir/running/ID/ (claimed). A runner sleeping on inotify should claim within
# milliseconds. Each job (jobs/hello) runs to its end before the next is dropped in.
#
# Usage: bench/pickup-latency.sh [RUNS=10]     (after `swift build -c release` and image 0)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_image0
runs=${1:-10}

mkdir -p "$work/queue" "$work/done"
jobs/make-job.sh jobs/hello "$work/hello.job" >/dev/null
"$bin" run --queue "$work/queue" --done "$work/done" --memory 256M --slots 1 >"$work/runner.log" 2>&1 &
runner=$!

python3 - "$work" "$runs" <<'PY'
import os, shutil, statistics, sys, time
work, runs = sys.argv[1], int(sys.argv[2])
queue, running = f"{work}/queue", f"{work}/queue/.construir/running"
def claimed():
    try:
        return any(os.path.exists(f"{running}/{d}/job.tar.xz") for d in os.listdir(running))
    except FileNotFoundError:
        return False
def wait_done(n):
    target = f"{work}/done/hello/result.json" if n == 1 else f"{work}/done/hello.{n}/result.json"
    while not os.path.exists(target):
        time.sleep(0.01)
latencies = []
for n in range(1, runs + 2):
    shutil.copy(f"{work}/hello.job", f"{queue}/.hello.part")
    while claimed():            # the previous job's directory is being published
        time.sleep(0.001)
    start = time.perf_counter()
    os.rename(f"{queue}/.hello.part", f"{queue}/hello_i0.tar.xz")
    while not claimed():
        time.sleep(0.0002)
    latency = (time.perf_counter() - start) * 1000
    if n > 1:                   # the first claim also waits for the runner's start-up
        latencies.append(latency)
    wait_done(n)
latencies.sort()
print("| runs | min (ms) | median (ms) | max (ms) |")
print("|---:|---:|---:|---:|")
print(f"| {len(latencies)} | {latencies[0]:.2f} | {statistics.median(latencies):.2f} | {latencies[-1]:.2f} |")
PY
