#!/usr/bin/env bash
# Status latency under load: how long `GET /api/status` takes while a runner with 2 slots is at
# its busiest: VMs starting, a 60 MB output being extracted, VMs torn down. The runner's
# blocking work (decompressing and checking the job, hashing the image, libvirt's domain start,
# extraction) must run on threads of its own, or the status server waits for it.
# JOBS hello jobs and one job whose output is 60 MB are queued at once; the status API is
# polled every 20 ms from the start until all are in done/.
#
# Usage: bench/status-latency.sh [JOBS=8]     (after `swift build -c release` and image 0)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_image0
jobs=${1:-8}
port=$((20000 + RANDOM % 20000))

mkdir -p "$work/queue" "$work/done" "$work/big/job"
cat > "$work/big/job/construir" <<'JOB'
#!/bin/bash
set -euo pipefail
mkdir -p /tmp/out
dd if=/dev/zero of=/tmp/out/zeros.bin bs=1M count=60 2>/dev/null
tar -C /tmp/out -cf - . | xz -0 -T1 > /dev/sdb
JOB
printf 'output_size: 64M\n' > "$work/big/job/construir.yml"
jobs/make-job.sh "$work/big" "$work/queue/.big.part" >/dev/null
for i in $(seq "$jobs"); do jobs/make-job.sh jobs/hello "$work/queue/.hello$i.part" >/dev/null; done
"$bin" run --queue "$work/queue" --done "$work/done" --memory 256M --slots 2 --timeout 10m \
    --http "127.0.0.1:$port" >"$work/runner.log" 2>&1 &
runner=$!

python3 - "$work" "$jobs" "$port" <<'PY'
import os, statistics, sys, time, urllib.request
work, jobs, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
url = f"http://127.0.0.1:{port}/api/status"
deadline = time.time() + 30
while True:                                   # the server is up
    try:
        urllib.request.urlopen(url, timeout=5).read(); break
    except OSError:
        if time.time() > deadline: sys.exit("the runner's status server did not start")
        time.sleep(0.05)
queue = f"{work}/queue"
os.rename(f"{queue}/.big.part", f"{queue}/big_i0.tar.xz")
for i in range(1, jobs + 1):
    os.rename(f"{queue}/.hello{i}.part", f"{queue}/hello{i}_i0.tar.xz")
def finished():
    return sum(os.path.exists(f"{work}/done/{d}/result.json") for d in os.listdir(f"{work}/done"))
latencies = []
while finished() < jobs + 1:
    start = time.perf_counter()
    urllib.request.urlopen(url, timeout=30).read()
    latencies.append((time.perf_counter() - start) * 1000)
    time.sleep(0.02)
import json
big = json.load(open(f"{work}/done/big/result.json"))
if big["status"] != "passed" or big["sizes"].get("output_files", 0) < 60 << 20:
    sys.exit(f"the big job did not produce its 60 MB output: {big['status']} {big.get('error')}")
latencies.sort()
p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
print("| jobs | requests | p50 (ms) | p99 (ms) | max (ms) |")
print(f"| {jobs + 1} | {len(latencies)} | {statistics.median(latencies):.1f} | {p(0.99):.1f} | {latencies[-1]:.1f} |")
PY
