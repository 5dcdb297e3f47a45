#!/usr/bin/env bash
# bench/dns-qps.sh — DNS serving cost of dyn53 against NSD, and update-to-answer latency.
#
# What it does (about 2 minutes after the release build):
#   1. cargo build --release
#   2. generates a zone of $HOSTS hosts (hN.bench.test, A records in 198.18.0.0/15) and
#      loads it into dyn53 (`dyn53 host import`, SQLite in a temp dir, DYN53_ZONES=bench.test)
#      and into NSD (zone file; nsd.conf on 127.0.0.1, a high port, rrl-ratelimit: 0, all
#      of its files in the temp dir, run with -d under this script's control);
#   3. builds ONE dnsperf query file: ~80 % existing names (A), ~10 % NODATA (an existing
#      name asked for AAAA or TXT), ~10 % NXDOMAIN;
#   4. runs dnsperf for $DURATION s against each server, the server pinned to CPU
#      $SERVER_CPU and dnsperf to CPU $LOAD_CPU (taskset), and reads the server's CPU time
#      (utime+stime of all its threads and processes, /proc/PID/stat) before and after;
#   5. prints per server: queries/s, server CPU µs per query, queries per server CPU-second,
#      response codes, resident memory; and the ratios dyn53/NSD;
#   6. sends $UPDATES sequential dyndns2 updates to dyn53 (bench/update-latency.py) and
#      prints p50/p99/max ms from the HTTP `good` to the new address on the DNS port.
#
# Compare servers by CPU per query, not by raw q/s: on 2 shared cores q/s swings with the
# neighbours' load while CPU per query is stable to about ±15 % (see shared/STACK.md).
#
# Usage:   bench/dns-qps.sh
# Env:     HOSTS=100000 DURATION=15 UPDATES=200 SERVER_CPU=1 LOAD_CPU=0 KEEP=1 (keep temp dir)
# Needs:   dnsperf, nsd, dig (bind9-dnsutils), taskset, python3, cargo.
#          Debian: apt-get install -y dnsperf nsd bind9-dnsutils
set -euo pipefail

HOSTS=${HOSTS:-100000}
DURATION=${DURATION:-15}
UPDATES=${UPDATES:-200}
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
QUERIES=${QUERIES:-200000}
ZONE=bench.test
EMAIL=bench@example.com

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
PATH=$PATH:/usr/sbin:/sbin

die() { echo "dns-qps: $*" >&2; exit 1; }
source "$ROOT/bench/common.sh"
for tool in dnsperf nsd dig taskset python3 cargo; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install -y dnsperf nsd bind9-dnsutils)"
done
[ "$(nproc --all)" -gt "$((SERVER_CPU > LOAD_CPU ? SERVER_CPU : LOAD_CPU))" ] ||
    die "needs CPUs $SERVER_CPU and $LOAD_CPU"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dyn53-bench.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM


# ---------------------------------------------------------------------------------------
build_release

# ---------------------------------------------------------------------------------------
log "generating $HOSTS hosts and $QUERIES queries"
python3 - "$WORK" "$HOSTS" "$QUERIES" "$ZONE" "$EMAIL" <<'EOF'
import random, sys
work, hosts, queries, zone, email = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
assert hosts <= 131000, "198.18.0.0/15 holds 131072 addresses"
def ip(n):
    n += 1
    return f"198.{18 + (n >> 16)}.{(n >> 8) & 255}.{n & 255}"
with open(f"{work}/hosts.txt", "w") as imp, open(f"{work}/{zone}.zone", "w") as zf:
    zf.write(f"$ORIGIN {zone}.\n$TTL 60\n"
             f"@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 60\n"
             f"@ IN NS ns1.{zone}.\nns1 IN A 127.0.0.1\n")
    for n in range(hosts):
        imp.write(f"h{n}.{zone} {email} {ip(n)}\n")
        zf.write(f"h{n} IN A {ip(n)}\n")
    # The host the latency run updates (kept out of the query mix).
    imp.write(f"lat.{zone} {email} 198.19.255.254\n")
    zf.write("lat IN A 198.19.255.254\n")
rnd = random.Random(53)
mix = {"A": 0, "NODATA": 0, "NXDOMAIN": 0}
with open(f"{work}/queries.txt", "w") as q:
    for i in range(queries):
        r = rnd.random()
        if r < 0.8:
            q.write(f"h{rnd.randrange(hosts)}.{zone} A\n"); mix["A"] += 1
        elif r < 0.9:
            q.write(f"h{rnd.randrange(hosts)}.{zone} {'AAAA' if i % 2 else 'TXT'}\n"); mix["NODATA"] += 1
        else:
            q.write(f"nx{rnd.randrange(10 * hosts)}.{zone} A\n"); mix["NXDOMAIN"] += 1
print("query mix: " + ", ".join(f"{k} {100 * v / queries:.1f} %" for k, v in mix.items()), file=sys.stderr)
EOF

# ---------------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)

# PID and all its descendants (NSD forks its server and xfrd processes).
tree_pids() {
    local child
    echo "$1"
    for child in $(pgrep -P "$1" 2>/dev/null); do
        tree_pids "$child"
    done
}

# CPU time (user+system, all threads) of PID and its descendants, in clock ticks.
cpu_ticks() {
    local total=0 pid
    for pid in $(tree_pids "$1"); do
        # Fields after the ")" that closes the command name: utime is the 12th, stime the 13th.
        total=$((total + $(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0)))
    done
    echo "$total"
}

# Resident memory of PID and its descendants, MB.
rss_mb() {
    local kb=0 pid
    for pid in $(tree_pids "$1"); do
        kb=$((kb + $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
    done
    echo $((kb / 1024))
}

# Waits until `dig` gets the last host's address from 127.0.0.1:PORT.
wait_for_zone() {
    local port=$1 what=$2 i want
    want=$(awk 'END {print $3}' "$WORK/hosts.txt")
    for i in $(seq 1 600); do
        if [ "$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" "lat.$ZONE" A 2>/dev/null)" = "$want" ]; then
            return 0
        fi
        sleep 0.1
    done
    die "$what does not answer for lat.$ZONE on port $port"
}

# run_dnsperf NAME PORT PID: prints "qps cpu_us_per_query queries_per_cpu_second".
run_dnsperf() {
    local name=$1 port=$2 pid=$3 out before after
    out=$WORK/dnsperf-$name.txt
    # Short warm-up so that both servers start hot.
    taskset -c "$LOAD_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/queries.txt" -l 2 -c 4 -q 100 >/dev/null 2>&1 || true
    before=$(cpu_ticks "$pid")
    taskset -c "$LOAD_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/queries.txt" -l "$DURATION" -c 4 -q 100 >"$out" 2>&1 ||
        { cat "$out" >&2; die "dnsperf against $name failed"; }
    after=$(cpu_ticks "$pid")
    python3 - "$out" "$before" "$after" "$CLK_TCK" "$name" "$(rss_mb "$pid")" <<'EOF'
import re, sys
path, before, after, tck, name, rss = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
text = open(path).read()
completed = int(re.search(r"Queries completed:\s+(\d+)", text).group(1))
lost = int(re.search(r"Queries lost:\s+(\d+)", text).group(1))
qps = float(re.search(r"Queries per second:\s+([\d.]+)", text).group(1))
codes = re.search(r"Response codes:\s+(.*)", text).group(1)
cpu = (after - before) / tck
us = cpu * 1e6 / completed if completed else float("nan")
per_cpu = completed / cpu if cpu else float("nan")
print(f"{name:6} {qps:10.0f} q/s   {us:6.2f} µs CPU/query   {per_cpu:10.0f} q/CPU-s   "
      f"(completed {completed}, lost {lost}, server CPU {cpu:.2f} s, RSS {rss} MB)", file=sys.stderr)
print(f"{name:6} response codes: {codes}", file=sys.stderr)
print(qps, us, per_cpu)
EOF
}

# ---------------------------------------------------------------------------------------
log "loading the zone into dyn53 (SQLite)"
export DYN53_DATA_DIR=$WORK/dyn53
# The latency run updates one host far more often than abuse control lets a client.
export DYN53_ABUSE_LIMIT=1000000/1
unset DYN53_DATABASE_URL
export RUST_LOG=warn
mkdir -p "$DYN53_DATA_DIR"
"$BIN" zone add "$ZONE" >/dev/null
printf 'bench-password-1\n' | "$BIN" user add "$EMAIL" --password-stdin >/dev/null
t0=$(date +%s.%N)
"$BIN" host import "$WORK/hosts.txt" >/dev/null
t1=$(date +%s.%N)
log "host import of $((HOSTS + 1)) hosts took $(python3 -c "print(f'{$t1 - $t0:.1f}')") s"
KEY=$("$BIN" key create --user "$EMAIL" --hosts "lat.$ZONE" | tr -d '[:space:]')

log "starting dyn53 on CPU $SERVER_CPU"
DYN53_HTTP_ADDR=127.0.0.1:0 DYN53_DNS_ADDR=127.0.0.1:0 DYN53_MINIUPDATE_ADDR=127.0.0.1:0 DYN53_ZONES=$ZONE \
    RUST_LOG='info,hickory_server=warn,hickory_net=warn,sqlx=warn,actix_web=warn' \
    taskset -c "$SERVER_CPU" "$BIN" serve >/dev/null 2>"$WORK/dyn53.log" &
DYN53_PID=$!
PIDS+=("$DYN53_PID")
for i in $(seq 1 600); do
    grep -q 'dyn53 listening' "$WORK/dyn53.log" && break
    kill -0 "$DYN53_PID" 2>/dev/null || { cat "$WORK/dyn53.log" >&2; die "dyn53 exited"; }
    sleep 0.1
done
LINE=$(grep -m1 'dyn53 listening' "$WORK/dyn53.log") || die "dyn53 did not start"
HTTP_ADDR=$(sed -E 's/.*http=([0-9.:]+).*/\1/' <<<"$LINE")
DNS_ADDR=$(sed -E 's/.*dns=([0-9.:]+).*/\1/' <<<"$LINE")
DYN53_PORT=${DNS_ADDR##*:}
t0=$(date +%s.%N)
wait_for_zone "$DYN53_PORT" dyn53
log "dyn53 answers on $DNS_ADDR (zone served $(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s after start)"
taskset -a -p -c "$SERVER_CPU" "$DYN53_PID" >/dev/null

log "dnsperf against dyn53 for $DURATION s"
RESULT=$(run_dnsperf dyn53 "$DYN53_PORT" "$DYN53_PID")
read -r D_QPS D_US D_PER <<<"$RESULT"

log "update-to-answer latency: $UPDATES updates"
LATENCY=$(python3 "$BENCH/update-latency.py" --http "$HTTP_ADDR" --dns "$DNS_ADDR" \
    --host "lat.$ZONE" --login "$EMAIL" --secret "$KEY" --count "$UPDATES")
D_RSS=$(rss_mb "$DYN53_PID")
kill -TERM "$DYN53_PID"; wait "$DYN53_PID" 2>/dev/null || true

# ---------------------------------------------------------------------------------------
NSD_PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/nsd"
mv "$WORK/$ZONE.zone" "$WORK/nsd/"
cat >"$WORK/nsd/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$NSD_PORT
    port: $NSD_PORT
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$WORK/nsd"
    database: ""
    zonelistfile: "$WORK/nsd/zone.list"
    xfrdfile: "$WORK/nsd/xfrd.state"
    xfrdir: "$WORK/nsd"
    pidfile: "$WORK/nsd/nsd.pid"
    logfile: "$WORK/nsd/nsd.log"
    cookie-secret-file: "$WORK/nsd/cookiesecrets.txt"
    verbosity: 1
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: $ZONE
    zonefile: $ZONE.zone
EOF
log "starting NSD on CPU $SERVER_CPU, port $NSD_PORT"
taskset -c "$SERVER_CPU" nsd -d -c "$WORK/nsd/nsd.conf" >"$WORK/nsd/stdout.log" 2>&1 &
NSD_PID=$!
PIDS+=("$NSD_PID")
wait_for_zone "$NSD_PORT" NSD
taskset -a -p -c "$SERVER_CPU" "$NSD_PID" >/dev/null

log "dnsperf against NSD for $DURATION s"
RESULT=$(run_dnsperf nsd "$NSD_PORT" "$NSD_PID")
read -r N_QPS N_US N_PER <<<"$RESULT"

# ---------------------------------------------------------------------------------------
echo
echo "== DNS: $HOSTS A records, mix 80 % A / 10 % NODATA / 10 % NXDOMAIN, ${DURATION} s dnsperf (CPU $LOAD_CPU), server on CPU $SERVER_CPU, $(date -u +%F)"
printf '%-6s %12s %16s %16s\n' server 'q/s' 'CPU µs/query' 'q/CPU-second'
printf '%-6s %12.0f %16.2f %16.0f\n' dyn53 "$D_QPS" "$D_US" "$D_PER"
printf '%-6s %12.0f %16.2f %16.0f\n' nsd "$N_QPS" "$N_US" "$N_PER"
python3 -c "
d_qps, d_us, d_per, n_qps, n_us, n_per = map(float, '$D_QPS $D_US $D_PER $N_QPS $N_US $N_PER'.split())
print(f'dyn53/NSD: q/s x{d_qps / n_qps:.2f}, q/CPU-second x{d_per / n_per:.2f} (CPU per query x{d_us / n_us:.2f})')
"
echo "dyn53 RSS after the run: $D_RSS MB"
echo
echo "== Update to answer (dyn53, SQLite, $((HOSTS + 1))-host zone)"
echo "$LATENCY"
