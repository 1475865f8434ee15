#!/usr/bin/env bash
# The job list at scale: a hub (SQLite) whose database holds JOBS finished jobs (default
# 100,000) of 20 submitters, read with --results public by one client, one call at a time:
# the first page, 200 pages followed by cursor, and pages filtered by submitter, status and
# name prefix, 50 jobs each. Prints a markdown table of latencies.
#
# Usage: bench/hub-list.sh [JOBS=100000]     (after `swift build -c release`)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
jobs=${1:-100000}
source bench/hub-lib.sh

# The hub makes its database once; the jobs go straight into it, as the hub would have
# recorded them (a done job's row), and the hub serves them after a restart.
start_hub 60s --results public
kill "$hub_pid"; wait "$hub_pid" 2>/dev/null || true; hub_pid=
python3 - "$work/hub/queue/.construir-hub/hub.sqlite" "$jobs" <<'PY'
import sqlite3, sys
path, count = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(path)
statuses = ["passed"] * 8 + ["failed", "error"]
rows = []
for i in range(count):
    queued = 1_800_000_000 + i
    rows.append((f"{queued}000-{i:08x}-job-{i}", f"job-{i}_i0.tar.xz", 0, f"s{i % 20}", "done", queued, "0" * 64, 1 << 20, 1,
                 1, 0, None, 0, 0, None, queued + 30, statuses[i % len(statuses)], f"job-{i}", None, i // 20 + 1))
db.executemany("""INSERT INTO jobs (id, job, image, submitter, state, queued, sha256, size, replicas, handed_out, failures,
                  last_failure, open_places, rank, finishing_since, finished, status, location, stop_requested, share)
                  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", rows)
db.commit()
PY
start_hub 60s --results public
echo "| call | jobs in the database | calls | p50 (ms) | p99 (ms) | max (ms) |"
echo "|---|---:|---:|---:|---:|---:|"
python3 - "$hub_url" "$jobs" <<'PY'
import http.client, json, sys, time, urllib.parse
url, count = urllib.parse.urlparse(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection(url.hostname, url.port)
def get(path):
    start = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200, (response.status, body[:200])
    return time.perf_counter() - start, json.loads(body)
def row(name, times):
    times = sorted(t * 1000 for t in times)
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    print(f"| {name} | {count} | {len(times)} | {p(0.5):.1f} | {p(0.99):.1f} | {times[-1]:.1f} |")
for _ in range(20): get("/api/v1/jobs?limit=50")  # warm up
row("first page, 50 jobs", [get("/api/v1/jobs?limit=50")[0] for _ in range(500)])
times, cursor = [], None
for _ in range(200):
    elapsed, page = get("/api/v1/jobs?limit=50" + (f"&cursor={cursor}" if cursor else ""))
    times.append(elapsed)
    assert len(page["jobs"]) == 50
    cursor = page["next"]
row("next 200 pages by cursor", times)
row("one submitter's first page", [get(f"/api/v1/jobs?limit=50&submitter=s{i % 20}")[0] for i in range(500)])
row("status=failed, first page", [get("/api/v1/jobs?limit=50&status=failed")[0] for _ in range(500)])
row("name prefix job-12, first page", [get("/api/v1/jobs?limit=50&prefix=job-12")[0] for _ in range(500)])
PY
