#!/usr/bin/env python3
"""RFC 2136 updates per second against an authoritative server (the reference for dyn53's
changing updates): --concurrency senders over UDP, each replacing the A record of host
h(n mod hosts) with a new address and waiting for the answer, for --seconds.

    knot-updates.py --server 127.0.0.1:5353 --zone bench.test --hosts 10000 --seconds 15

Prints updates/s and latency p50/p99; exits non-zero if any answer is not NOERROR.
Needs dnspython (pip install dnspython) to build the messages.
"""

import argparse
import asyncio
import ipaddress
import math
import socket
import sys
import time

import dns.message
import dns.rcode
import dns.update


def percentile(values, p):
    s = sorted(values)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)] if s else 0.0


async def sender(loop, server, zone, hosts, first, step, deadline, latencies, errors):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sock.connect(server)
    n = first
    while time.perf_counter() < deadline:
        update = dns.update.UpdateMessage(zone)
        address = str(ipaddress.IPv4Address(0x0A000000 + n))
        update.replace(f"h{n % hosts}", 60, "A", address)
        wire = update.to_wire()
        t0 = time.perf_counter()
        await loop.sock_sendall(sock, wire)
        try:
            answer = await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)
        except asyncio.TimeoutError:
            errors.append("timeout")
            continue
        latencies.append(time.perf_counter() - t0)
        rcode = dns.message.from_wire(answer).rcode()
        if rcode != dns.rcode.NOERROR:
            errors.append(dns.rcode.to_text(rcode))
        n += step
    sock.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--zone", required=True)
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    host, port = args.server.rsplit(":", 1)
    loop = asyncio.get_running_loop()
    latencies, errors = [], []
    start = time.perf_counter()
    deadline = start + args.seconds
    await asyncio.gather(*(
        sender(loop, (host, int(port)), args.zone, args.hosts, i, args.concurrency,
               deadline, latencies, errors)
        for i in range(args.concurrency)))
    elapsed = time.perf_counter() - start
    print(f"RFC 2136 updates: {len(latencies)} in {elapsed:.1f} s = {len(latencies) / elapsed:.0f}/s, "
          f"p50 {percentile(latencies, 50) * 1000:.2f} ms, p99 {percentile(latencies, 99) * 1000:.2f} ms")
    if errors:
        sys.exit(f"{len(errors)} failed updates, e.g. {errors[:3]}")


asyncio.run(main())
