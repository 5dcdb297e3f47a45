#!/usr/bin/env python3
"""Update-to-answer latency of a running dyn53: the time from a dyndns2 `good` answer on
the HTTP port to the first DNS answer on the DNS port that carries the new address.

    update-latency.py --http 127.0.0.1:8080 --dns 127.0.0.1:5300 --host lat.bench.test \
        --login bench@example.com --secret dyn53_... [--count 200]

Updates are sequential: one dyndns2 request (a new IPv4 address each time, from
198.19.0.0/16), then UDP A queries sent back to back (each waits for its answer) until the
answer carries that address. Prints p50/p99/max in milliseconds for the propagation, and
the same for the HTTP request itself, and exits non-zero when an update is not `good` or
an answer does not arrive within --timeout seconds. Standard library only.
"""

import argparse
import base64
import http.client
import math
import random
import socket
import struct
import sys
import time


def addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def dns_query(name, qid):
    header = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0)  # no RD: authoritative server
    qname = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
    return header + qname + struct.pack(">HH", 1, 1)  # A, IN


def skip_name(msg, i):
    while True:
        n = msg[i]
        if n == 0:
            return i + 1
        if n & 0xC0 == 0xC0:
            return i + 2
        i += 1 + n


def a_records(msg, qid):
    """The IPv4 addresses in the answer section, or None when `msg` is not our answer."""
    if len(msg) < 12:
        return None
    rid, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    if rid != qid or not flags & 0x8000:
        return None
    i = 12
    for _ in range(qd):
        i = skip_name(msg, i) + 4
    out = []
    for _ in range(an):
        i = skip_name(msg, i)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[i:i + 10])
        i += 10
        if rtype == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(msg[i:i + 4]))
        i += rdlen
    return out


def percentile(values, p):
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--http", type=addr, required=True)
    ap.add_argument("--dns", type=addr, required=True)
    ap.add_argument("--host", required=True)
    ap.add_argument("--login", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=5.0)
    args = ap.parse_args()

    auth = "Basic " + base64.b64encode(f"{args.login}:{args.secret}".encode()).decode()
    headers = {"Authorization": auth, "User-Agent": "dyn53-bench/1.0 bench@example.com"}
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(args.dns)
    sock.settimeout(0.2)
    conn = http.client.HTTPConnection(*args.http, timeout=10)
    rnd = random.Random(53)
    propagation, request_ms, polls = [], [], 0
    last = None
    for n in range(args.count):
        ip = last
        while ip == last:
            ip = f"198.19.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        last = ip
        t0 = time.perf_counter()
        conn.request("GET", f"/nic/update?hostname={args.host}&myip={ip}", headers=headers)
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace").strip()
        if resp.will_close:
            conn.close()
            conn = http.client.HTTPConnection(*args.http, timeout=10)
        t_good = time.perf_counter()
        if body != f"good {ip}":
            sys.exit(f"update {n}: expected 'good {ip}', got HTTP {resp.status} {body!r}")
        request_ms.append((t_good - t0) * 1000)
        deadline = t_good + args.timeout
        qid = 0
        while True:
            qid = (qid + 1) & 0xFFFF
            sock.send(dns_query(args.host, qid))
            polls += 1
            got = None
            try:
                while got is None:
                    got = a_records(sock.recv(4096), qid)
            except socket.timeout:
                pass
            now = time.perf_counter()
            if got == [ip]:
                propagation.append((now - t_good) * 1000)
                break
            if now > deadline:
                sys.exit(f"update {n}: {args.host} still answers {got} {args.timeout} s after 'good {ip}'")

    def line(label, v):
        return (f"{label}: p50 {percentile(v, 50):.2f} ms, p99 {percentile(v, 99):.2f} ms, "
                f"max {max(v):.2f} ms")

    print(line(f"update-to-answer ({args.count} updates)", propagation))
    print(line("dyndns2 request (sent to 'good')", request_ms))
    print(f"DNS polls per update: {polls / args.count:.1f}")


if __name__ == "__main__":
    main()
