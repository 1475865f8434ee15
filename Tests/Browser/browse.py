#!/usr/bin/env python3
"""Drives headless Chromium through the DevTools protocol over a pipe (--remote-debugging-pipe),
with nothing but the standard library, for the hub's page tests.

    browse.py CHROMIUM PROFILE_DIR DOWNLOAD_DIR < plan.json

The plan is a JSON list of steps, run in order in one tab:
    {"go": URL}                            navigate, wait for the load
    {"submit": JS}                         run JS that submits a form, wait for the next load
    {"text": true}                         the page's innerText
    {"wait_for_text": S, "timeout": N}     poll innerText (the page may reload itself) until it holds S
    {"download": URL, "timeout": N}        navigate to a download; the file's name once it is in DOWNLOAD_DIR
Prints {"results": [...one per step...], "console": [...every console message, log entry and exception...]}.
"""
import fcntl, json, os, subprocess, sys, time

chromium, profile, downloads = sys.argv[1:4]
plan = json.load(sys.stdin)
to_chrome_r, to_chrome_w = os.pipe()
from_chrome_r, from_chrome_w = os.pipe()

def child_fds():
    # Chromium reads fd 3 and writes fd 4. Move both ends out of the way first, so that one
    # already at 3 or 4 is not overwritten by the other.
    high_r, high_w = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
    os.dup2(high_r, 3)
    os.dup2(high_w, 4)

browser = subprocess.Popen(
    [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-pipe",
     f"--user-data-dir={profile}", "about:blank"],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(f"{profile}.log", "w"),
    preexec_fn=child_fds, pass_fds=(3, 4, to_chrome_r, from_chrome_w))
os.close(to_chrome_r)
os.close(from_chrome_w)
pending = b""
events = []
console = []
next_id = 0

def read_message():
    global pending
    while b"\0" not in pending:
        chunk = os.read(from_chrome_r, 65536)
        if not chunk:
            raise SystemExit("chromium closed the pipe: " + open(f"{profile}.log").read()[-2000:])
        pending += chunk
    message, pending = pending.split(b"\0", 1)
    message = json.loads(message)
    method = message.get("method", "")
    params = message.get("params", {})
    if method == "Runtime.consoleAPICalled":
        console.append({"console": params.get("type"), "text": " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))})
    elif method == "Log.entryAdded":
        entry = params.get("entry", {})
        console.append({"log": entry.get("level"), "text": entry.get("text"), "url": entry.get("url")})
    elif method == "Runtime.exceptionThrown":
        console.append({"exception": params.get("exceptionDetails", {}).get("text")})
    return message

def send(method, params=None, session=None):
    global next_id
    next_id += 1
    message = {"id": next_id, "method": method, "params": params or {}}
    if session:
        message["sessionId"] = session
    os.write(to_chrome_w, json.dumps(message).encode() + b"\0")
    while True:
        reply = read_message()
        if reply.get("id") == next_id:
            if "error" in reply:
                raise SystemExit(f"{method}: {reply['error']}")
            return reply.get("result", {})
        if "method" in reply:
            events.append(reply)

def wait_event(name, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for index, event in enumerate(events):
            if event.get("method") == name:
                del events[index]
                return event
        events.append(read_message())
    raise SystemExit(f"no {name} within {timeout} s")

target = send("Target.createTarget", {"url": "about:blank"})["targetId"]
session = send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
for domain in ["Page", "Runtime", "Log"]:
    send(f"{domain}.enable", session=session)
send("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})

def evaluate(expression):
    result = send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
    return result.get("result", {}).get("value")

def loaded():
    events[:] = [e for e in events if e.get("method") != "Page.loadEventFired"]

results = []
for step in plan:
    if "go" in step:
        loaded()
        send("Page.navigate", {"url": step["go"]}, session)
        wait_event("Page.loadEventFired")
        results.append(None)
    elif "submit" in step:
        loaded()
        evaluate(step["submit"])
        wait_event("Page.loadEventFired")
        results.append(None)
    elif "text" in step:
        results.append(evaluate("document.body.innerText"))
    elif "wait_for_text" in step:
        deadline = time.time() + step.get("timeout", 20)
        text = ""
        while time.time() < deadline:
            text = evaluate("document.body ? document.body.innerText : ''") or ""
            if step["wait_for_text"] in text:
                break
            time.sleep(0.5)
        results.append(text)
    elif "download" in step:
        before = set(os.listdir(downloads))
        try:
            send("Page.navigate", {"url": step["download"]}, session)
        except SystemExit:
            pass
        deadline = time.time() + step.get("timeout", 20)
        name = None
        while time.time() < deadline and name is None:
            done = [n for n in set(os.listdir(downloads)) - before if not n.endswith(".crdownload")]
            name = done[0] if done else None
            time.sleep(0.2)
        results.append(name)
browser.terminate()
browser.wait(timeout=10)
print(json.dumps({"results": results, "console": console}))
