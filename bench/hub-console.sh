#!/usr/bin/env bash
# The live console through a hub: one pull runner (image 0) and a follower of the hub's console
# API (long polls, as `logs --hub --follow` does).
#  1. Lag: a job prints LINES lines (default 20), one every 1.5 s. For each, the time from its
#     appearance in the runner's console.log (polled every 20 ms on this machine) to its arrival
#     at the follower.
#  2. Cost: the pull runner's CPU time and the appends it sent, while a job prints 10 MiB (1 MiB, then
#     a second's pause, ten times: under TCG it prints slower), and while a job is silent for 20 s.
# Prints markdown tables.
#
# Usage: bench/hub-console.sh [LINES=20]     (after `swift build -c release` and image 0)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_image0
lines=${1:-20}
source bench/hub-lib.sh
"$bin" hub token add follower --role submitter --tokens "$work/hub/tokens.json" >"$work/submitter.token"
chmod 600 "$work/submitter.token"
start_hub 60s --verbose
start_pull_runner

# Packs a job whose job/construir is SCRIPT into FILE.
make_job() {
    mkdir -p "$work/src-$1/job"
    printf '%s\n' "$2" >"$work/src-$1/job/construir"
    jobs/make-job.sh "$work/src-$1" "$work/$1.job" >/dev/null
}
make_job printer "#!/bin/bash
for i in \$(seq 1 $lines); do echo \"line \$i\"; sleep 1.5; done"
make_job flood '#!/bin/bash
line=$(head -c 1023 /dev/zero | tr "\0" x)
for s in $(seq 1 10); do for i in $(seq 1 1024); do echo "$line"; done; sleep 1; done'
make_job silent '#!/bin/bash
sleep 20'

python3 - "$hub_url" "$work" "$bin" "$pull_pid" "$lines" <<'PY'
import glob, http.client, json, os, re, subprocess, sys, threading, time, urllib.parse
hub, work, binary, pull_pid, lines = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
url = urllib.parse.urlparse(hub)
token = open(f"{work}/submitter.token").read().strip()
def call(method, path, body=None, headers={}):
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    conn.request(method, path, body=body, headers={"Authorization": f"Bearer {token}", **headers})
    response = conn.getresponse()
    data = response.read()
    return response, data
def submit(name):
    response, data = call("POST", f"/api/v1/jobs?name={name}_i0.tar.xz", open(f"{work}/{name}.job", "rb").read(),
                          {"Content-Type": "application/x-xz"})
    assert response.status == 201, data
    return json.loads(data)["id"]
def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
def appends():
    # With --verbose the hub logs each append it takes.
    return open(f"{work}/hub.log").read().count("console appended")
def wait_done(id):
    while True:
        response, data = call("GET", f"/api/v1/jobs/{id}")
        if json.loads(data)["job"]["state"] == "done": return
        time.sleep(0.5)

# 1. Lag.
id = submit("printer")
appeared, arrived = {}, {}
def watch_file():
    while len(appeared) < lines:
        for path in glob.glob(f"{work}/pull-state/running/*/console.log"):
            for match in re.findall(rb"line (\d+)\r?\n", open(path, "rb").read()):
                appeared.setdefault(int(match), time.time())
        time.sleep(0.02)
def follow():
    offset, text = 0, b""
    while len(arrived) < lines:
        response, data = call("GET", f"/api/v1/jobs/{id}/console?offset={offset}&wait=30")
        offset += len(data)
        text += data
        now = time.time()
        for match in re.findall(rb"line (\d+)\r?\n", text):
            arrived.setdefault(int(match), now)
        if response.getheader("Construir-Job-State") == "done" and not data: break
threads = [threading.Thread(target=watch_file), threading.Thread(target=follow)]
for t in threads: t.start()
for t in threads: t.join()
lags = sorted(arrived[n] - appeared[n] for n in range(1, lines + 1) if n in arrived and n in appeared)
print("| lines | median lag (s) | max lag (s) |\n|---:|---:|---:|")
print(f"| {len(lags)} | {lags[len(lags) // 2]:.2f} | {lags[-1]:.2f} |\n")
wait_done(id)

# 2. Cost.
print("| job | status | seconds | pull runner CPU (s) | appends | appends per minute | console at the hub (bytes) |\n|---|---|---:|---:|---:|---:|---:|")
for name in ["flood", "silent"]:
    before_cpu, before_appends = cpu(pull_pid), appends()
    start = time.time()
    id = submit(name)
    wait_done(id)
    seconds = time.time() - start
    used, sent = cpu(pull_pid) - before_cpu, appends() - before_appends
    response, data = call("GET", f"/api/v1/jobs/{id}/console?offset=0")
    status = json.loads(call("GET", f"/api/v1/jobs/{id}")[1])["job"].get("status")
    print(f"| {name} | {status} | {seconds:.1f} | {used:.2f} | {sent} | {sent * 60 / seconds:.0f} | {response.getheader('Construir-Console-Size')} |")
PY
