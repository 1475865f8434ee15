#!/usr/bin/env bash
# Timer lateness: does a job's timeout fire on time while the runner extracts a large output?
# The runner's timers share Swift's cooperative pool (one thread per core) with everything else
# that runs on it; blocking work there (extraction, hashing, libvirt calls) would make them late.
# Each round, a runner with 2 slots gets two jobs at once: one whose output of FILES small files
# (made on the host beforehand, so the guest only copies it to its output disk) takes the runner
# seconds to extract, and one that runs forever with `timeout: 5s`, whose timer falls due while
# that extraction runs. For each forever job it prints how late its timeout fired
# (`durations.vm` - `durations.destroy` - 5 s: VM started → the runner decided to stop it), the
# destroy that follows, and whether the other job's collection overlapped the moment it was due.
#
# Usage: bench/timer-lateness.sh [ROUNDS=5] [FILES=90000]   (after `swift build -c release` and image 0)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_image0
rounds=${1:-5}
files=${2:-90000}

mkdir -p "$work/queue" "$work/done" "$work/big/job" "$work/forever/job" "$work/files"
python3 - "$work/files" "$files" <<'PY'
import sys
for i in range(int(sys.argv[2])):
    with open(f"{sys.argv[1]}/f{i:06d}", "w") as f:
        f.write(f"file {i} of the timer lateness bench\n")
PY
tar -C "$work/files" -cf - . | xz -0 -T1 > "$work/big/job/output.tar.xz"
cat > "$work/big/job/construir" <<'JOB'
#!/bin/bash
cat /job/output.tar.xz > /dev/sdb
JOB
cp jobs/forever/job/construir "$work/forever/job/construir"
printf 'timeout: 5s\n' > "$work/forever/job/construir.yml"
for kind in big forever; do jobs/make-job.sh "$work/$kind" "$work/$kind.tar.xz" >/dev/null; done

"$bin" run --queue "$work/queue" --done "$work/done" --memory 512M --slots 2 --timeout 10m \
    >"$work/runner.log" 2>&1 &
runner=$!
for r in $(seq "$rounds"); do
    for kind in big forever; do cp "$work/$kind.tar.xz" "$work/queue/.$r-$kind.part"; done
    for kind in big forever; do mv "$work/queue/.$r-$kind.part" "$work/queue/$r-${kind}_i0.tar.xz"; done
    while [ "$(ls "$work/done" | wc -l)" -lt $((2 * r)) ] || [ -n "$(ls "$work/queue")" ]; do sleep 0.5; done
    sleep 2  # the forever job's VM finishes exiting
done

python3 - "$work" "$files" <<'PY'
import json, os, sys
from datetime import datetime
work, files = sys.argv[1], int(sys.argv[2])
def t(s): return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
results = [json.load(open(f"{work}/done/{d}/result.json")) for d in sorted(os.listdir(f"{work}/done"), key=lambda d: int(d.split("-")[0]))]
big = [r for r in results if r["name"].endswith("-big")]
forever = [r for r in results if r["name"].endswith("-forever")]
for r in big:
    if r["status"] != "passed" or r["sizes"].get("output_entries") != files:
        sys.exit(f"{r['name']}: {r['status']} {r.get('error')} {r['sizes']}")
# A big job's collection: the `collect` seconds before it finished (publishing is after, and short).
collecting = [(t(r["timestamps"]["finished"]) - r["durations"]["collect"], t(r["timestamps"]["finished"])) for r in big]
print(f"| job | status | timer late (ms) | destroy (s) | due during a {files}-file extraction |")
print("|---|---|---:|---:|---|")
late = []
for r in forever:
    d = r["durations"]
    if r["status"] != "timed_out": sys.exit(f"{r['name']}: {r['status']} {r.get('error')}")
    due = t(r["timestamps"]["started"]) + d.get("inspect", 0) + d.get("vm_start", 0) + 5
    overlap = any(a <= due <= b for a, b in collecting)
    late.append((d["vm"] - d["destroy"] - 5) * 1000)
    print(f"| {r['name']} | {r['status']} | {late[-1]:.0f} | {d['destroy']:.2f} | {'yes' if overlap else 'no'} |")
print(f"\nlatest timer: {max(late):.0f} ms after its 5 s timeout; extractions took "
      + ", ".join(f"{b - a:.1f}" for a, b in collecting) + " s")
PY
