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
# The store: SQLite by default (the hub's own file). STORE=postgres starts a private PostgreSQL
# cluster for the bench (the newest /usr/lib/postgresql/N/bin; as `nobody` when run as root) in
# a temporary directory on a free loopback port, gives the hub --database postgres://…/hub, and
# stops and removes the cluster at exit. Unlike the tests' clusters, this one keeps fsync on:
# the SQLite store syncs every commit, and the comparison should be fair. With PostgreSQL a
# further table gives the server's CPU time (all its processes), which the hub's CPU leaves out.
# HUBS=N (STORE=postgres only) starts N hubs on the one database, with the same queue, done/,
# tokens and job directory (QUEUE/.construir-hub), each on its own port; load thread i talks to
# hub i mod N (even threads to hub 1, odd to hub 2). The tables then give totals over all the
# hubs (hub CPU is their sum), a further table what went through each hub (its requests include
# the status calls, which go to hub 1) and each hub's CPU since its start, and peak RSS per hub.
# The checks hold across the hubs: queued jobs and leases are the database's, so every hub must
# report the same; `finished` counts a hub process's own results, so the hubs' sum must equal
# the results sent (the runners list is per hub as well; it is not checked).
#
# Usage: [CLAIMS=2000] [HEARTBEATS=2000] [CYCLES=300] [MAX_LEASES=64] [STORE=sqlite|postgres] [HUBS=1] \
#        bench/hub-claims.sh [JOBS=10000] [HELD=1000] [CLAIMERS=50] [-- HUB SERVE OPTIONS...]
#        (after `swift build -c release`; options after -- go to `hub serve`, e.g. --database
#        for a database of your own with STORE=sqlite; CONSTRUIR_BIN=... for another binary)
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
store=${STORE:-sqlite}
hubs=${HUBS:-1}
for n in "$jobs" "$held" "$claimers" "$claims" "$heartbeats" "$cycles" "$max_leases" "$hubs"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "usage: $0 [JOBS] [HELD] [CLAIMERS] [-- HUB SERVE OPTIONS...]: numbers" >&2; exit 2; }
done
[ "$claimers" -ge 1 ] || { echo "CLAIMERS must be at least 1" >&2; exit 2; }
case $store in
    sqlite | postgres) ;;
    *) echo "STORE must be sqlite or postgres, not $store" >&2; exit 2 ;;
esac
[ "$hubs" -ge 1 ] || { echo "HUBS must be at least 1" >&2; exit 2; }
if [ "$hubs" -gt 1 ] && [ "$store" != postgres ]; then
    echo "HUBS=$hubs needs STORE=postgres: only a PostgreSQL database is shared by several hubs" >&2; exit 2
fi
if [ "$store" = postgres ]; then
    for option in "${extra[@]}"; do
        case $option in
            --database | --database=*) echo "STORE=postgres makes the hub's database itself: leave --database out" >&2; exit 2 ;;
        esac
    done
fi
tokens=$(( claimers > 50 ? claimers : 50 ))
if [ $(( (held + tokens - 1) / tokens )) -ge "$max_leases" ]; then
    echo "$held held leases over $tokens tokens leave no room under --max-leases $max_leases" >&2; exit 2
fi
if [ $((held + cycles)) -ge "$jobs" ]; then
    echo "$jobs jobs leave none to claim after $held held and $cycles for the cycles" >&2; exit 2
fi
ulimit -n 8192
source bench/hub-lib.sh

# Hubs 2..HUBS (hub 1 is hub-lib's $hub_pid), and the PostgreSQL cluster: stopped at exit, the
# hubs before the cluster. hub-lib's cleanup (which removes $work) runs in between, as it was.
more_hubs=()
pg_dir= pg_bin= pg_port= pg_as=()
pg_stop() {
    [ -n "$pg_dir" ] || return 0
    if [ -f "$pg_dir/data/postmaster.pid" ]; then
        "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop </dev/null >>"$pg_dir/pg_ctl.log" 2>&1 ||
            echo "PostgreSQL did not stop: $(tail -5 "$pg_dir/pg_ctl.log")" >&2
    fi
    rm -rf "$pg_dir"
}
eval "set -- $(trap -p EXIT)"   # trap -- 'CLEANUP' EXIT
trap 'for p in "${more_hubs[@]}"; do kill "$p" 2>/dev/null || true; done; '"$3"'; pg_stop' EXIT
set --

# Starts the private cluster with database `hub` and sets $pg_port. fsync stays on (see above).
start_postgres() {
    local version
    for version in $(ls /usr/lib/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -rn); do
        if [ -x "/usr/lib/postgresql/$version/bin/initdb" ]; then pg_bin=/usr/lib/postgresql/$version/bin; break; fi
    done
    [ -n "$pg_bin" ] || { echo "STORE=postgres: PostgreSQL is not installed (no /usr/lib/postgresql/N/bin/initdb; scripts/install-deps)" >&2; exit 1; }
    pg_dir=$(mktemp -d /tmp/construir-bench-pg.XXXXXX)
    if [ "$(id -u)" = 0 ]; then   # initdb refuses root
        chown nobody: "$pg_dir"
        pg_as=(runuser -u nobody --)
    fi
    chmod 700 "$pg_dir"
    "${pg_as[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U construir -A trust --no-sync -E UTF8 </dev/null >"$pg_dir/initdb.log" 2>&1 ||
        { echo "initdb failed: $(cat "$pg_dir/initdb.log")" >&2; exit 1; }
    local attempt
    for attempt in 1 2 3; do   # another process may take the free port first
        pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        if "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -t 60 -w start \
            -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=200" </dev/null >"$pg_dir/pg_ctl.log" 2>&1; then
            "${pg_as[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U construir hub </dev/null >"$pg_dir/createdb.log" 2>&1 ||
                { echo "createdb failed: $(cat "$pg_dir/createdb.log")" >&2; exit 1; }
            return 0
        fi
    done
    echo "PostgreSQL did not start: $(tail -20 "$pg_dir/server.log" 2>/dev/null)" >&2
    exit 1
}
database=()
if [ "$store" = postgres ]; then
    start_postgres
    database=(--database "postgres://construir@127.0.0.1:$pg_port/hub")
fi

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

# The CPU time of PostgreSQL's server: the postmaster and its children, live and reaped.
cat >"$work/pg_cpu.py" <<'PY'
import os, sys
def server_cpu(postmaster):
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue   # gone meanwhile; a backend's time moves to the postmaster's children
        if entry == postmaster:
            total += sum(int(x) for x in fields[11:15])   # utime, stime, cutime, cstime
        elif fields[1] == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")
if __name__ == "__main__":
    print(server_cpu(sys.argv[1]))
PY
pg_pid=- pg_cpu0=0
if [ "$store" = postgres ]; then
    pg_pid=$(head -1 "$pg_dir/data/postmaster.pid")
    pg_cpu0=$(python3 "$work/pg_cpu.py" "$pg_pid")
fi

# The hubs: 2..HUBS started first, without waiting, then hub 1 (start_hub waits for it).
started=$(now)
for n in $(seq 2 "$hubs"); do
    "$bin" hub serve --listen 127.0.0.1:0 --queue "$work/hub/queue" --done "$work/hub/done" --tokens "$work/hub/tokens.json" \
        --lease 600s --max-leases "$max_leases" "${database[@]}" "${extra[@]}" >"$work/hub$n.log" 2>&1 &
    more_hubs+=($!)
done
start_hub 600s --max-leases "$max_leases" "${database[@]}" "${extra[@]}"
ports=${hub_url##*:} pids=$hub_pid
for n in $(seq 2 "$hubs"); do
    url=
    for _ in $(seq 1200); do
        url=$(grep -o 'hub listening at http://127.0.0.1:[0-9]*' "$work/hub$n.log" 2>/dev/null | head -1 | sed 's/hub listening at //') || true
        [ -n "$url" ] && break
        kill -0 "${more_hubs[n - 2]}" 2>/dev/null || break
        sleep 0.1
    done
    [ -n "$url" ] || { echo "hub $n did not start: $(cat "$work/hub$n.log")" >&2; exit 1; }
    ports+=,${url##*:} pids+=,${more_hubs[n - 2]}
done
python3 - "$ports" "$pids" "$work/tokens.txt" "$work/hub/done" "$started" "$work" "$pg_pid" "$pg_cpu0" \
    "$jobs" "$held" "$claimers" "$tokens" "$claims" "$heartbeats" "$cycles" "$max_leases" <<'PY' ||
import hashlib, http.client, io, json, math, os, sys, tarfile, threading, time
from datetime import datetime, timezone

ports, pids = [int(p) for p in sys.argv[1].split(",")], sys.argv[2].split(",")
tokens_file, done, started, work = sys.argv[3], sys.argv[4], float(sys.argv[5]), sys.argv[6]
pg_pid, pg_cpu0 = (None if sys.argv[7] == "-" else sys.argv[7]), float(sys.argv[8])
jobs, held_total, claimers, token_count, claims_wanted, heartbeats, cycles, max_leases = map(int, sys.argv[9:17])
hubs = len(ports)
sys.path.insert(0, work)
from pg_cpu import server_cpu
tokens = dict(line.split() for line in open(tokens_file))
runner_tokens = [tokens[f"runner-{i}"] for i in range(1, token_count + 1)]
cycler_tokens = [tokens[f"cycler-{i}"] for i in range(1, claimers + 1)]
ticks = os.sysconf("SC_CLK_TCK")
LIMIT = {"intake": 600, "held": 300, "claims": 120, "heartbeats": 120, "cycles": 300}   # seconds, each phase

problems, problems_lock = [], threading.Lock()
phase = "intake"   # the phase under way, named in each problem
def problem(text):
    with problems_lock:
        problems.append(f"{phase}: {text}")

def one_hub_cpu(h):
    fields = open(f"/proc/{pids[h]}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks
def hub_cpu():   # all the hubs'
    return sum(one_hub_cpu(h) for h in range(hubs))
def db_cpu():   # PostgreSQL's server, since just before the hubs started; 0 with SQLite
    return server_cpu(pg_pid) - pg_cpu0 if pg_pid else 0.0
def own_cpu():
    t = os.times()
    return t.user + t.system
def hub_memory(h, key):
    for line in open(f"/proc/{pids[h]}/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
def pct(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000   # nearest rank, in ms
def share(total, parts, i):
    return total // parts + (1 if i < total % parts else 0)

requests, requests_lock = [0] * hubs, threading.Lock()   # calls made to each hub
class Client:
    """One keep-alive connection to hub `hub` (from 0); every call is timed, and an unexpected
    answer is a problem."""
    def __init__(self, hub=0):
        self.hub = hub
        self.connection = http.client.HTTPConnection("127.0.0.1", ports[hub], timeout=60)
        self.connection.connect()
    def call(self, method, path, token, body=None, expect=(200,)):
        with requests_lock:
            requests[self.hub] += 1
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
            problem(f"hub {self.hub + 1}: {method} {path} -> {error!r}")
            return None, b"", time.perf_counter() - t0
        elapsed = time.perf_counter() - t0
        if response.status not in expect:
            problem(f"hub {self.hub + 1}: {method} {path} -> {response.status} {data[:300]!r}")
        return response.status, data, elapsed
    def claim(self, token):
        status, data, elapsed = self.call("POST", "/api/v1/claim", token, b"{}", expect=(200,))
        return (json.loads(data) if status == 200 else None), elapsed
    def close(self):
        self.connection.close()

def run_threads(name, count, work):
    """Runs phase `name`: work(i, client) on `count` threads that start together, thread i on
    hub i mod hubs; returns their results, the wall time, and the CPU time the hubs, this
    client and PostgreSQL's server spent meanwhile."""
    global phase
    phase = name
    ready = threading.Barrier(count + 1)
    results = [None] * count
    def thread(i):
        client = None
        try:
            client = Client(i % hubs)
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
    t0, hub0, own0, db0 = time.perf_counter(), hub_cpu(), own_cpu(), db_cpu()
    for t in threads:
        t.join()
    return results, time.perf_counter() - t0, hub_cpu() - hub0, own_cpu() - own0, db_cpu() - db0
def per_hub(results, size=len):   # what each thread did, summed by hub
    counts = [0] * hubs
    for i, r in enumerate(results):
        counts[i % hubs] += size(r) if r else 0
    return counts

def status(hub=0):
    client = Client(hub)
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
intake, intake_cpu, intake_db_cpu = time.time() - started, hub_cpu(), db_cpu()   # from the hubs' start

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
results, _, _, _, _ = run_threads("held leases", claimers, take_held)
held_by_hub = per_hub(results)
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
results, claim_wall, claim_hub_cpu, claim_own_cpu, claim_db_cpu = run_threads("claims", claimers, claim_timed)
claims_by_hub = per_hub(results, lambda r: len(r[0]))
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
results, beat_wall, beat_hub_cpu, beat_own_cpu, beat_db_cpu = run_threads("heartbeats", threads, heartbeat)
beats_by_hub = per_hub(results)
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
results, cycle_wall, cycle_hub_cpu, cycle_own_cpu, cycle_db_cpu = run_threads("cycles", cycle_threads, cycle)
cycles_by_hub = per_hub(results, lambda r: len(r[0]["result"]))
cycle_steps = {k: [x for r in results if r for x in r[0][k]] for k in ("claim", "download", "console", "output", "result")}
cycled = [lease for r in results if r for lease in r[1]]
handed += cycled

# Checks: no job handed out twice, every cycled job in done/ with its result, the status adds up.
phase = "checks"
time.sleep(1)   # a result moves to done/ as it is answered; give a slow disk a moment
twice = len(handed) - len({job for _, job in handed})
published = [d for d in os.listdir(done) if os.path.exists(f"{done}/{d}/result.json")]
statuses = {}
for d in published:
    s = json.load(open(f"{done}/{d}/result.json"))["status"]
    statuses[s] = statuses.get(s, 0) + 1
finals = [status(h) or {"queued": -1, "leases": [], "finished": -1} for h in range(hubs)]
final = finals[0]   # queued jobs and leases are the database's: every hub must say the same
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
for h in range(1, hubs):
    if finals[h]["queued"] != final["queued"]:
        checks.append(f"hub {h + 1} says {finals[h]['queued']} queued, hub 1 {final['queued']}")
    if sorted(l["id"] for l in finals[h]["leases"]) != sorted(l["id"] for l in final["leases"]):
        checks.append(f"hub {h + 1} lists other leases than hub 1 ({len(finals[h]['leases'])}, {len(final['leases'])})")
finished = sum(f["finished"] for f in finals)   # each hub counts the results it took in
if finished != len(cycled):
    checks.append(f"status says {' + '.join(str(f['finished']) for f in finals)} finished, expected {len(cycled)}")

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
if pg_pid:
    print("| PostgreSQL server CPU: intake (s) | per claim (ms) | per heartbeat (ms) | per cycle (ms) |")
    print("|---:|---:|---:|---:|")
    print(f"| {intake_db_cpu:.1f} | {claim_db_cpu * 1000 / max(claims_made, 1):.2f} | {beat_db_cpu * 1000 / max(beats, 1):.2f} "
          f"| {cycle_db_cpu * 1000 / max(done_cycles, 1):.1f} |")
    print()
if hubs > 1:
    print("| hub | held claims | claims | heartbeats | cycles | finished (its status) | requests | CPU since start (s) | peak RSS (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for h in range(hubs):
        print(f"| {h + 1} | {held_by_hub[h]} | {claims_by_hub[h]} | {beats_by_hub[h]} | {cycles_by_hub[h]} | {finals[h]['finished']} "
              f"| {requests[h]} | {one_hub_cpu(h):.1f} | {hub_memory(h, 'VmHWM'):.1f} |")
    print()
rss = lambda key: " / ".join(f"{hub_memory(h, key):.1f}" for h in range(hubs))
print(f"| hub peak RSS (MiB){' per hub' if hubs > 1 else ''} | RSS at the end (MiB) | unexpected answers | checks |")
print("|---:|---:|---:|---|")
print(f"| {rss('VmHWM')} | {rss('VmRSS')} | {len(problems)} | {'; '.join(checks) or 'all passed'} |")
for text in problems[:10]:
    print(f"unexpected: {text}", file=sys.stderr)
if len(problems) > 10:
    print(f"... and {len(problems) - 10} more", file=sys.stderr)
sys.exit(1 if problems or checks else 0)
PY
    {
        status=$?
        echo "the hub's log ends with:" >&2; tail -20 "$work/hub.log" >&2
        for n in $(seq 2 "$hubs"); do echo "hub $n's log ends with:" >&2; tail -20 "$work/hub$n.log" >&2; done
        if [ "$store" = postgres ]; then echo "PostgreSQL's log ends with:" >&2; tail -20 "$pg_dir/server.log" >&2; fi
        exit "$status"
    }
