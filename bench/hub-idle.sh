#!/usr/bin/env bash
# Idle cost of the hub path.
# 1. A pull runner left idle for SECONDS (default 60) on an empty hub: its CPU time and
#    context switches. It holds one long poll open, renewed every 30 s.
# 2. The hub holding CONNECTIONS (default 1000) idle long polls at once, as that many waiting
#    runners would: its memory before and while they wait, and its CPU time over 45 s (the hub
#    answers a long poll after 60 s at most).
#
# Usage: bench/hub-idle.sh [SECONDS=60] [CONNECTIONS=1000]     (after `swift build -c release`)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
seconds=${1:-60}
connections=${2:-1000}
ulimit -n 8192
source bench/hub-lib.sh
start_hub 60s
start_pull_runner
# Start-up (libvirt's capability probe on a new embedded root takes seconds here, more than
# the idle cost measured), then the first claim and long poll.
for _ in $(seq 600); do grep -q "pulling jobs from the hub" "$work/pull.log" && break; sleep 0.1; done
sleep 5
ticks=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss() { awk '/VmRSS/ { print $2 }' "/proc/$1/status"; }
switches() { for t in /proc/$1/task/*; do echo "${t##*/} $(awk '/ctxt_switches/ { s += $2 } END { print s }' "$t/status")"; done; }
c0=$(cpu "$pull_pid"); switches "$pull_pid" > "$work/s0"
sleep "$seconds"
c1=$(cpu "$pull_pid"); switches "$pull_pid" > "$work/s1"
wakeups=$(awk 'NR == FNR { a[$1] = $2; next } ($1 in a) { s += $2 - a[$1] } END { print s + 0 }' "$work/s0" "$work/s1")
echo "| pull runner idle for (s) | CPU time (ms) | CPU share | context switches (all threads) |"
echo "|---:|---:|---:|---:|"
awk -v c="$((c1 - c0))" -v t="$ticks" -v s="$seconds" -v w="$wakeups" \
    'BEGIN { ms = c * 1000 / t; printf "| %d | %.0f | %.4f %% | %d |\n", s, ms, ms / (s * 10), w }'
kill "$pull_pid"; wait "$pull_pid" 2>/dev/null || true; pull_pid=

token=$(cat "$work/runner.token")
port=${hub_url##*:}
rss0=$(rss "$hub_pid")
python3 - "$port" "$token" "$connections" 45 "$hub_pid" "$ticks" "$rss0" <<'PY'
import asyncio, sys, time, urllib.request
port, token, count, seconds, pid, ticks, rss0 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], int(sys.argv[6]), int(sys.argv[7])
def cpu():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
async def hold():
    request = (f"GET /api/v1/work?wait=600 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n\r\n").encode()
    streams = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", int(port))
        writer.write(request)
        streams.append((reader, writer))
    await asyncio.sleep(2)                  # every request has reached its wait
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    waiting = next(int(float(line.split()[1])) for line in metrics.splitlines() if line.startswith("construir_hub_waiting_polls "))
    c0, r1 = cpu(), rss()
    await asyncio.sleep(seconds)
    c1, r2 = cpu(), rss()
    answered = sum(1 for reader, _ in streams if reader.at_eof() or len(reader._buffer) > 0)
    print("| idle long polls | waiting at the hub (its /metrics) | hub RSS before (MiB) | with them (MiB) | per poll (KiB) | hub CPU over %d s (ms) | answered early |" % seconds)
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print("| %d | %d | %.1f | %.1f | %.1f | %.0f | %d |" % (count, waiting, rss0 / 1024, r2 / 1024, (r2 - rss0) / count, (c1 - c0) * 1000 / ticks, answered))
    for _, writer in streams:
        writer.close()
asyncio.run(hold())
PY
