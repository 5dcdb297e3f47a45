#!/usr/bin/env python3
"""The password path under attack (driven by password-attack.sh).

Against a running dyn53 at HOST:PORT (pid PID), sends N parallel bogus /reset posts, N
bogus /join posts, N wrong sign-ins (each from its own address, through a trusted proxy
header, as a distributed attack would), then all three at once. Meanwhile it samples the
server's resident memory every 20 ms and asks /healthz every 100 ms. Prints one row per
phase: answers by status, peak RSS and its rise over the idle figure, /healthz latency.
"""

import http.client
import re
import statistics
import sys
import threading
import time
import urllib.parse

HOST, PORT, PID, N = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])


def rss_mb():
    with open(f"/proc/{PID}/status") as f:
        kb = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    return kb / 1024


def request(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(HOST, PORT, timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read().decode(errors="replace")
    cookies = response.getheader("Set-Cookie") or ""
    conn.close()
    return response.status, data, cookies


def form_post(path, fields, source):
    """GET the form for its CSRF cookie and field, then POST it from `source`."""
    status, page, cookie = request("GET", "/login", headers={"X-Forwarded-For": source})
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode(dict(fields, csrf=csrf))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": cookie.split(";")[0],
        "X-Forwarded-For": source,
    }
    return request("POST", path, body, headers)[0]


def source(i):
    # The benchmarking range (RFC 2544), only ever written in a header.
    return f"198.{18 + ((i >> 16) & 1)}.{(i >> 8) & 255}.{i & 255}"


def bogus_reset(i):
    return form_post("/reset", {"token": "x" * 43, "password": "a long new phrase %d" % i}, source(i))


def bogus_join(i):
    return form_post("/join", {"token": "y" * 43, "password": "a long new phrase %d" % i}, source(i))


def wrong_sign_in(i):
    return form_post("/login", {"email": "guess%d@example.com" % i, "password": "a wrong guess"}, source(i))


def run_phase(name, calls):
    idle = rss_mb()
    statuses, peak, health = [], [idle], []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak.append(rss_mb())
            time.sleep(0.02)

    def poll_health():
        while not stop.is_set():
            started = time.monotonic()
            try:
                ok = request("GET", "/healthz")[0] == 200
            except OSError:
                ok = False
            health.append((ok, (time.monotonic() - started) * 1000))
            time.sleep(0.1)

    def call(fn, i):
        try:
            statuses.append(fn(i))
        except OSError as e:
            statuses.append(type(e).__name__)

    watchers = [threading.Thread(target=sample), threading.Thread(target=poll_health)]
    for w in watchers:
        w.start()
    started = time.monotonic()
    threads = [threading.Thread(target=call, args=(fn, i)) for i, fn in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    time.sleep(0.3)
    stop.set()
    for w in watchers:
        w.join()
    counts = {}
    for s in statuses:
        counts[s] = counts.get(s, 0) + 1
    times = sorted(ms for _, ms in health)
    answered = sum(1 for ok, _ in health if ok)
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))] if times else float("nan")
    print(
        f"| {name} | {len(calls)} | {elapsed:.1f} s | "
        + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items(), key=str))
        + f" | {max(peak):.1f} MB (+{max(peak) - idle:.1f}) | {rss_mb():.1f} MB"
        + f" | {answered}/{len(health)}, p50 {statistics.median(times) if times else float('nan'):.1f} ms,"
        + f" p99 {p99:.1f} ms |"
    )


idle = rss_mb()
print(f"idle RSS: {idle:.1f} MB; N = {N}\n")
print("| phase | requests | took | answers | peak RSS (over idle) | RSS after | /healthz answered, latency |")
print("|---|---|---|---|---|---|---|")
run_phase("bogus /reset", [(i, bogus_reset) for i in range(N)])
run_phase("bogus /join", [(i, bogus_join) for i in range(N)])
run_phase("wrong sign-ins", [(i, wrong_sign_in) for i in range(N)])
mixed = [(i, fn) for i in range(N) for fn in (bogus_reset, bogus_join, wrong_sign_in)]
run_phase("all three at once", [(N + i, fn) for i, (_, fn) in enumerate(mixed)])
print(f"\nRSS at the end: {rss_mb():.1f} MB (idle was {idle:.1f} MB)")
