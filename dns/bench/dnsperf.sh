#!/usr/bin/env bash
# Server CPU time per query of the DNS node under dnsperf, on a 100k-host zone with 80 %
# existing names, 10 % NODATA (AAAA on hosts without one) and 10 % NXDOMAIN.
#
# Usage: dns/bench/dnsperf.sh [SECONDS] [UDP_SOCKETS] [WORKERS] [SERVER_CPUS] [CLIENT_CPUS]
# Defaults: 20 1 2 0 1. Needs dnsperf (Debian package `dnsperf`) and taskset.
# The server and the load generator are pinned apart, and the result is the server's
# CPU time (utime + stime from /proc) divided by the queries answered: stable across runs
# where raw queries per second are not (see shared/STACK.md). NSD measured ~6.9 µs here.
set -euo pipefail
SECONDS_RUN=${1:-20}
UDP_SOCKETS=${2:-1}
WORKERS=${3:-2}
SERVER_CPUS=${4:-0}
CLIENT_CPUS=${5:-1}
HOSTS=100000
PORT=5399
cd "$(dirname "$0")/../.."

cargo build --release -q -p dyn53-dns --example bench_server
BIN=target/release/examples/bench_server
QUERIES=$(mktemp)
trap 'rm -f "$QUERIES"; [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null || true' EXIT

# 100k lines, a fixed pseudo-random order.
awk -v n=$HOSTS 'BEGIN { srand(42); for (i = 0; i < 100000; i++) {
    r = rand(); h = int(rand() * n);
    if (r < 0.8) print "h" h ".bench.test A";
    else if (r < 0.9) { if (h % 10 == 0) h++; print "h" h ".bench.test AAAA" }
    else print "nx" h ".bench.test A" } }' > "$QUERIES"

taskset -c "$SERVER_CPUS" "$BIN" 127.0.0.1:$PORT $HOSTS "$UDP_SOCKETS" "$WORKERS" &
PID=$!
for _ in $(seq 100); do
    dig +short +time=1 +tries=1 @127.0.0.1 -p $PORT h1.bench.test A >/dev/null 2>&1 && break || sleep 0.2
done 2>/dev/null || sleep 3

ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
BEFORE=$(ticks)
OUT=$(taskset -c "$CLIENT_CPUS" dnsperf -s 127.0.0.1 -p $PORT -d "$QUERIES" -l "$SECONDS_RUN" -c 8 -q 500 2>&1)
AFTER=$(ticks)
echo "$OUT" | grep -E "Queries (sent|completed)|Queries per second|Response codes"
DONE=$(echo "$OUT" | awk '/Queries completed/ { print $3 }')
awk -v t=$((AFTER - BEFORE)) -v hz="$HZ" -v q="$DONE" \
    'BEGIN { printf "server CPU per query: %.2f us (%d queries, %.2f CPU-s)\n", t / hz / q * 1e6, q, t / hz }'
