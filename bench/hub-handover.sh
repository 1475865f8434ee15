#!/usr/bin/env bash
# Hand-over latency: from a job's rename into the hub's queue to the waiting pull runner
# holding the whole job file in STATE/running/LEASE/ (its long poll answered, the claim made,
# the job downloaded and checked: the runner starts the VM next). Each job runs to its end
# before the next is dropped in, so the runner is always waiting in its long poll.
#
# Usage: bench/hub-handover.sh [RUNS=10]     (after `swift build -c release` and image 0)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_image0
runs=${1:-10}
source bench/hub-lib.sh
jobs/make-job.sh jobs/hello "$work/hello.job" >/dev/null
start_hub 60s
start_pull_runner

python3 - "$work" "$runs" <<'PY'
import os, shutil, statistics, sys, time
work, runs = sys.argv[1], int(sys.argv[2])
queue, running = f"{work}/hub/queue", f"{work}/pull-state/running"
size = os.path.getsize(f"{work}/hello.job")
def handed_over():
    try:
        for lease in os.listdir(running):
            job = f"{running}/{lease}/job.tar.xz"
            # The runner writes the file as it downloads; whole, and checked, once claim and size agree.
            if os.path.exists(f"{running}/{lease}/hub-claim.json") and os.path.exists(job) and os.path.getsize(job) == size:
                return True
    except FileNotFoundError:
        pass
    return False
def busy():
    try:
        return len(os.listdir(running)) > 0
    except FileNotFoundError:
        return False
def wait_done(n):
    target = f"{work}/hub/done/hello/result.json" if n == 1 else f"{work}/hub/done/hello.{n}/result.json"
    while not os.path.exists(target):
        time.sleep(0.01)
latencies = []
for n in range(1, runs + 2):
    shutil.copy(f"{work}/hello.job", f"{queue}/.hello.part")
    while busy():               # the previous job is still being delivered
        time.sleep(0.001)
    time.sleep(0.2)             # let the runner settle into its long poll
    start = time.perf_counter()
    os.rename(f"{queue}/.hello.part", f"{queue}/hello_i0.tar.xz")
    while not handed_over():
        time.sleep(0.0002)
    latency = (time.perf_counter() - start) * 1000
    if n > 1:                   # the first also waits for the runner's start-up
        latencies.append(latency)
    wait_done(n)
latencies.sort()
print("| runs | min (ms) | median (ms) | max (ms) |")
print("|---:|---:|---:|---:|")
print(f"| {len(latencies)} | {latencies[0]:.1f} | {statistics.median(latencies):.1f} | {latencies[-1]:.1f} |")
PY
