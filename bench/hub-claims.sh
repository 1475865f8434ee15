#!/usr/bin/env bash
# The hub's store work under load, without VMs: a hub with JOBS queued jobs (default 10000)
# and HELD leases held (default 1000), and CLAIMERS concurrent runners (default 50).
# 1. Intake: how long the hub takes to take the queued files in (hash each, one store commit a batch).
# 2. Claims: CLAIMERS threads, each with its own keep-alive connection and runner token(s), claim
#    until $CLAIMS claims (default 2000) are made: claims per second and the latency of each.
# 3. Heartbeats: $HEARTBEATS heartbeats (default 2000) over the HELD leases, from CLAIMERS threads.
# 4. Full job cycles, as a runner does them minus the VM: claim, download the job, PUT the
#    console log, PUT the output archive, POST the result; $CYCLES of them (default 300), from
#    CLAIMERS threads. Each result must reach done/.
# Then checks that no job was handed out twice and that the hub's status adds up, and prints the
# hub's peak RSS. The load client is Python (stdlib) on the same machine: its CPU time is shown,
# as it competes with the hub's.
#
# Leases last 600 s, so none runs out during the bench. Each runner token holds at most
# --max-leases jobs ($MAX_LEASES, default 64; set it here, not after --), so the held leases are
# spread over max(50, CLAIMERS) tokens runner-N, and each claimer claims with its own tokens
# until they are full; the cycles use tokens cycler-N of their own. Every phase is bounded in
# time as well as in count.
#
# Usage: [CLAIMS=2000] [HEARTBEATS=2000] [CYCLES=300] [MAX_LEASES=64] \
#        bench/hub-claims.sh [JOBS=10000] [HELD=1000] [CLAIMERS=50] [-- HUB SERVE OPTIONS...]
#        (after `swift build -c release`; options after -- go to `hub serve`, e.g. --database)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
positional=() extra=()
while [ $# -gt 0 ]; do
    if [ "$1" = -- ]; then shift; extra=("$@"); break; fi
    positional+=("$1"); shift
done
jobs=${positional[0]:-10000}
held=${positional[1]:-1000}
claimers=${positional[2]:-50}
claims=${CLAIMS:-2000}
heartbeats=${HEARTBEATS:-2000}
cycles=${CYCLES:-300}
max_leases=${MAX_LEASES:-64}
for n in "$jobs" "$held" "$claimers" "$claims" "$heartbeats" "$cycles" "$max_leases"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "usage: $0 [JOBS] [HELD] [CLAIMERS] [-- HUB SERVE OPTIONS...]: numbers" >&2; exit 2; }
done
[ "$claimers" -ge 1 ] || { echo "CLAIMERS must be at least 1" >&2; exit 2; }
tokens=$(( claimers > 50 ? claimers : 50 ))
if [ $(( (held + tokens - 1) / tokens )) -ge "$max_leases" ]; then
    echo "$held held leases over $tokens tokens leave no room under --max-leases $max_leases" >&2; exit 2
fi
if [ $((held + cycles)) -ge "$jobs" ]; then
    echo "$jobs jobs leave none to claim after $held held and $cycles for the cycles" >&2; exit 2
fi
ulimit -n 8192
source bench/hub-lib.sh

# Tokens: runner-1..runner-TOKENS hold the leases and claim, cycler-1..cycler-CLAIMERS run the
# cycles. All made before the hub starts, so that it reads them once.
: >"$work/tokens.txt"
chmod 600 "$work/tokens.txt"
for i in $(seq "$tokens"); do
    echo "runner-$i $("$bin" hub token add "runner-$i" --role runner --tokens "$work/hub/tokens.json")" >>"$work/tokens.txt"
done
for i in $(seq "$claimers"); do
    echo "cycler-$i $("$bin" hub token add "cycler-$i" --role runner --tokens "$work/hub/tokens.json")" >>"$work/tokens.txt"
done

# The jobs: copies of jobs/hello, each written to a dot-name and renamed into the queue. The
# image is zero padded to 1 MiB; the copies keep the padding sparse (what the hub reads is
# the same), so that 10,000 of them take little disk.
jobs/make-job.sh jobs/hello "$work/hello.tar.xz" >/dev/null
python3 - "$work/hello.tar.xz" "$work/hub/queue" "$jobs" <<'PY'
import os, sys
image, queue, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(image, "rb").read()
used = len(data.rstrip(b"\0"))
for i in range(1, count + 1):
    name = f"claims-{i:06d}_i0.tar.xz"
    part = f"{queue}/.{name}.part"
    with open(part, "wb") as f:
        f.write(data[:used])
        f.truncate(len(data))
    os.rename(part, f"{queue}/{name}")
PY

started=$(now)
start_hub 600s --max-leases "$max_leases" "${extra[@]}"
port=${hub_url##*:}
python3 - "$port" "$hub_pid" "$work/tokens.txt" "$work/hub/done" "$started" \
    "$jobs" "$held" "$claimers" "$tokens" "$claims" "$heartbeats" "$cycles" "$max_leases" <<'PY' ||
import hashlib, http.client, io, json, math, os, sys, tarfile, threading, time
from datetime import datetime, timezone

port, pid, tokens_file, done = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
started = float(sys.argv[5])
jobs, held_total, claimers, token_count, claims_wanted, heartbeats, cycles, max_leases = map(int, sys.argv[6:14])
tokens = dict(line.split() for line in open(tokens_file))
runner_tokens = [tokens[f"runner-{i}"] for i in range(1, token_count + 1)]
cycler_tokens = [tokens[f"cycler-{i}"] for i in range(1, claimers + 1)]
ticks = os.sysconf("SC_CLK_TCK")
LIMIT = {"intake": 600, "held": 300, "claims": 120, "heartbeats": 120, "cycles": 300}   # seconds, each phase

problems, problems_lock = [], threading.Lock()
def problem(text):
    with problems_lock:
        problems.append(text)

def hub_cpu():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks
def own_cpu():
    t = os.times()
    return t.user + t.system
def hub_memory(key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
def pct(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000   # nearest rank, in ms
def share(total, parts, i):
    return total // parts + (1 if i < total % parts else 0)

class Client:
    """One keep-alive connection; every call is timed, and an unexpected answer is a problem."""
    def __init__(self):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.connection.connect()
    def call(self, method, path, token, body=None, expect=(200,)):
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        t0 = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError) as error:
            self.connection.close()   # the next call connects again
            problem(f"{method} {path} -> {error!r}")
            return None, b"", time.perf_counter() - t0
        elapsed = time.perf_counter() - t0
        if response.status not in expect:
            problem(f"{method} {path} -> {response.status} {data[:300]!r}")
        return response.status, data, elapsed
    def claim(self, token):
        status, data, elapsed = self.call("POST", "/api/v1/claim", token, b"{}", expect=(200,))
        return (json.loads(data) if status == 200 else None), elapsed
    def close(self):
        self.connection.close()

def run_threads(count, work):
    """Runs work(i, client) on `count` threads that start together; returns their results, the
    wall time, and the CPU time the hub and this client spent meanwhile."""
    ready = threading.Barrier(count + 1)
    results = [None] * count
    def thread(i):
        client = None
        try:
            client = Client()
        except OSError as error:
            problem(f"thread {i} cannot connect: {error!r}")
        ready.wait()
        if client is None:
            return
        try:
            results[i] = work(i, client)
        except Exception as error:   # a thread's failure is reported, not hidden
            problem(f"thread {i}: {error!r}")
        finally:
            client.close()
    threads = [threading.Thread(target=thread, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    ready.wait()
    t0, hub0, own0 = time.perf_counter(), hub_cpu(), own_cpu()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0, hub_cpu() - hub0, own_cpu() - own0

def status():
    client = Client()
    code, data, _ = client.call("GET", "/api/v1/status", runner_tokens[0])
    client.close()
    return json.loads(data) if code == 200 else None

# 1. Intake: wait until the hub has every queued file in its store.
deadline = time.time() + LIMIT["intake"]
while True:
    s = status()
    if s and s["queued"] >= jobs:
        break
    if time.time() > deadline:
        sys.exit(f"the hub took in {s and s['queued']} of {jobs} jobs in {LIMIT['intake']} s")
    time.sleep(0.2)
intake, intake_cpu = time.time() - started, hub_cpu()   # from the hub's start

# Who holds what, to keep every token under --max-leases.
held_per_token = [share(held_total, token_count, t) for t in range(token_count)]
def own_tokens(i):   # claimer i's runner tokens
    return range(i, token_count, claimers)
room = sum(max_leases - held_per_token[t] for t in range(token_count))
claims_total = min(claims_wanted, room, jobs - held_total - cycles)
handed = []   # every job handed out: (lease id, job name)

# 2a. The held leases, not timed.
def take_held(i, client):
    mine = []
    deadline = time.time() + LIMIT["held"]
    for t in own_tokens(i):
        for _ in range(held_per_token[t]):
            lease, _ = client.claim(runner_tokens[t])
            if lease is None or time.time() > deadline:
                return mine
            mine.append((lease["id"], lease["job"], runner_tokens[t]))
    return mine
results, _, _, _ = run_threads(claimers, take_held)
held = [lease for part in results if part for lease in part]
handed += [(id, job) for id, job, _ in held]

# 2b. Timed claims: each claimer its share, with its own tokens while they have room.
def claim_timed(i, client):
    want, latencies, got = share(claims_total, claimers, i), [], []
    deadline = time.time() + LIMIT["claims"]
    for t in own_tokens(i):
        for _ in range(max_leases - held_per_token[t]):
            if len(got) >= want or time.time() > deadline:
                return latencies, got
            lease, elapsed = client.claim(runner_tokens[t])
            if lease is None:
                return latencies, got
            latencies.append(elapsed)
            got.append((lease["id"], lease["job"]))
    return latencies, got
results, claim_wall, claim_hub_cpu, claim_own_cpu = run_threads(claimers, claim_timed)
claim_latencies = [x for r in results if r for x in r[0]]
handed += [lease for r in results if r for lease in r[1]]

# 3. Heartbeats over the held leases: each thread its slice of them, round and round.
threads = max(1, min(claimers, len(held)))
def heartbeat(i, client):
    mine, latencies = held[i::threads], []
    deadline = time.time() + LIMIT["heartbeats"]
    for n in range(share(heartbeats, threads, i)):
        if not mine or time.time() > deadline:
            break
        id, _, token = mine[n % len(mine)]
        status_code, data, elapsed = client.call("POST", f"/api/v1/jobs/{id}/heartbeat", token, b"")
        if status_code == 200:
            latencies.append(elapsed)
    return latencies
results, beat_wall, beat_hub_cpu, beat_own_cpu = run_threads(threads, heartbeat)
beat_latencies = [x for r in results if r for x in r]

# 4. Full cycles, as a runner without a VM: claim, download, console, output, result.
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode="w:xz") as archive:
    text = b"hello from hub-claims\n"
    info = tarfile.TarInfo("hello.txt")
    info.size, info.mtime = len(text), int(time.time())
    archive.addfile(info, io.BytesIO(text))
output = buffer.getvalue()
console = b"hub-claims: no VM ran this job\n" * 32
def stamp(t):
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
def result_json(lease, t0, t1):
    return json.dumps({
        "job": lease["job"], "name": lease["job"].rsplit("_i", 1)[0], "status": "passed", "exit_code": 0, "error": None,
        "image": {"index": 0, "sha256": None},
        "timestamps": {"queued": lease["queued"], "started": stamp(t0), "finished": stamp(t1)},
        "durations": {"wait": 0.0, "total": t1 - t0}, "sizes": {"job": lease["size"]}, "limits": None,
        "runner": "bench/hub-claims.sh",
    }).encode()
cycle_threads = max(1, min(claimers, cycles))
def cycle(i, client):
    token, steps, got = cycler_tokens[i], {"claim": [], "download": [], "console": [], "output": [], "result": []}, []
    deadline = time.time() + LIMIT["cycles"]
    for _ in range(share(cycles, cycle_threads, i)):
        if time.time() > deadline:
            break
        t0 = time.time()
        lease, elapsed = client.claim(token)
        if lease is None:
            break
        steps["claim"].append(elapsed)
        got.append((lease["id"], lease["job"]))
        base = f"/api/v1/jobs/{lease['id']}"
        code, data, elapsed = client.call("GET", f"{base}/job", token)
        steps["download"].append(elapsed)
        if code == 200 and (len(data) != lease["size"] or hashlib.sha256(data).hexdigest() != lease["sha256"]):
            problem(f"GET {base}/job -> {len(data)} bytes, not the {lease['size']} bytes of sha256 {lease['sha256']} the claim said")
        for step, body in (("console", console), ("output", output)):
            _, _, elapsed = client.call("PUT", f"{base}/{step}", token, body, expect=(204,))
            steps[step].append(elapsed)
        _, _, elapsed = client.call("POST", f"{base}/result", token, result_json(lease, t0, time.time()))
        steps["result"].append(elapsed)
    return steps, got
results, cycle_wall, cycle_hub_cpu, cycle_own_cpu = run_threads(cycle_threads, cycle)
cycle_steps = {k: [x for r in results if r for x in r[0][k]] for k in ("claim", "download", "console", "output", "result")}
cycled = [lease for r in results if r for lease in r[1]]
handed += cycled

# Checks: no job handed out twice, every cycled job in done/ with its result, the status adds up.
time.sleep(1)   # a result moves to done/ as it is answered; give a slow disk a moment
twice = len(handed) - len({job for _, job in handed})
published = [d for d in os.listdir(done) if os.path.exists(f"{done}/{d}/result.json")]
statuses = {}
for d in published:
    s = json.load(open(f"{done}/{d}/result.json"))["status"]
    statuses[s] = statuses.get(s, 0) + 1
final = status() or {"queued": -1, "leases": [], "finished": -1}
expected_queued = jobs - len(handed)
checks = []
if twice:
    checks.append(f"{twice} job(s) handed out twice")
if len(published) != len(cycled) or statuses.get("passed", 0) != len(cycled):
    checks.append(f"{len(cycled)} results sent, done/ has {len(published)} ({statuses})")
if final["queued"] != expected_queued:
    checks.append(f"status says {final['queued']} queued, expected {expected_queued}")
live = len(handed) - len(cycled)   # the held leases and the timed claims
if len(final["leases"]) != live:
    checks.append(f"status lists {len(final['leases'])} leases, expected {live}")
if final["finished"] != len(cycled):
    checks.append(f"status says {final['finished']} finished, expected {len(cycled)}")

claims_made = len(claim_latencies)
print("| jobs queued | taken in by the hub (s) | jobs/s | hub CPU (s) | held leases | runner tokens | --max-leases |")
print("|---:|---:|---:|---:|---:|---:|---:|")
print(f"| {jobs} | {intake:.1f} | {jobs / intake:.0f} | {intake_cpu:.1f} | {len(held)} | {token_count} | {max_leases} |")
print()
print("| claimers | claims | claims/s | p50 (ms) | p99 (ms) | max (ms) | hub CPU per claim (ms) | client CPU (s) |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
print(f"| {claimers} | {claims_made} | {claims_made / claim_wall:.0f} | {pct(claim_latencies, 50):.1f} | {pct(claim_latencies, 99):.1f} "
      f"| {pct(claim_latencies, 100):.1f} | {claim_hub_cpu * 1000 / max(claims_made, 1):.2f} | {claim_own_cpu:.1f} |")
print()
beats = len(beat_latencies)
print("| heartbeats | over held leases | threads | heartbeats/s | p50 (ms) | p99 (ms) | max (ms) | hub CPU per heartbeat (ms) | client CPU (s) |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
print(f"| {beats} | {len(held)} | {threads} | {beats / beat_wall:.0f} | {pct(beat_latencies, 50):.1f} | {pct(beat_latencies, 99):.1f} "
      f"| {pct(beat_latencies, 100):.1f} | {beat_hub_cpu * 1000 / max(beats, 1):.2f} | {beat_own_cpu:.1f} |")
print()
done_cycles = len(cycle_steps["result"])
print("| cycles (no VM) | threads | cycles/s | claim p50 / p99 (ms) | download p50 (ms) | console p50 (ms) | output p50 (ms) "
      "| result p50 / p99 (ms) | hub CPU per cycle (ms) | client CPU (s) |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
p = lambda k, q: pct(cycle_steps[k], q)
print(f"| {done_cycles} | {cycle_threads} | {done_cycles / cycle_wall:.1f} | {p('claim', 50):.1f} / {p('claim', 99):.1f} "
      f"| {p('download', 50):.1f} | {p('console', 50):.1f} | {p('output', 50):.1f} | {p('result', 50):.1f} / {p('result', 99):.1f} "
      f"| {cycle_hub_cpu * 1000 / max(done_cycles, 1):.1f} | {cycle_own_cpu:.1f} |")
print()
print("| hub peak RSS (MiB) | RSS at the end (MiB) | unexpected answers | checks |")
print("|---:|---:|---:|---|")
print(f"| {hub_memory('VmHWM'):.1f} | {hub_memory('VmRSS'):.1f} | {len(problems)} | {'; '.join(checks) or 'all passed'} |")
for text in problems[:10]:
    print(f"unexpected: {text}", file=sys.stderr)
if len(problems) > 10:
    print(f"... and {len(problems) - 10} more", file=sys.stderr)
sys.exit(1 if problems or checks else 0)
PY
    { status=$?; echo "the hub's log ends with:" >&2; tail -20 "$work/hub.log" >&2; exit "$status"; }
