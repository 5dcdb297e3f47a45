#!/usr/bin/env bash
# bench/dns-qps.sh — DNS serving cost of dyn53 against NSD in one run, at each zone size,
# the cost of response rate limiting, and update-to-answer latency.
#
# What it does (about 1 minute per 100,000 hosts and 4 minutes per 1,000,000 after the
# release build):
#   1. cargo build --release
#   2. per size in $SIZES: generates a zone of that many hosts (hN.bench.test, A records in
#      10.0.0.0/8) and loads it into dyn53 (`dyn53 host import`, SQLite in a temp dir,
#      DYN53_ZONES=bench.test) and into NSD (zone file; nsd.conf on 127.0.0.1, a high port,
#      rrl-ratelimit: 0, all of its files in the temp dir, run with -d under this script's
#      control);
#   3. builds ONE dnsperf query file per size: ~80 % existing names (A), ~10 % NODATA (an
#      existing name asked for AAAA or TXT), ~10 % NXDOMAIN;
#   4. runs dnsperf for $DURATION s against each server, the server pinned to CPU
#      $SERVER_CPU and dnsperf to CPU $LOAD_CPU (taskset), and reads the server's CPU time
#      (utime+stime of all its threads and processes, /proc/PID/stat) before and after.
#      NSD and dyn53 (rrl) are measured in turns, $ROUNDS rounds, both servers up, so that
#      a round's pair meets the same neighbours; the ratio reported is the rounds' median.
#      dyn53 runs three times:
#        rrl      rate limiting on (the defaults) with the load generator's address exempt
#                 (--rrl-exempt 127.0.0.1/32): the configuration compared with NSD;
#        off      --rrl-rate 0: no limiter at all;
#        charged  rate limiting on, nobody exempt, a rate no bucket reaches
#                 (--rrl-rate 1000000): every answer hashed and charged to its bucket,
#                 the limiter's whole cost;
#   5. prints per server: queries/s, server CPU µs per query, queries per server
#      CPU-second, response codes, proportional memory (PSS, which counts the pages NSD's
#      processes share once) and bytes per host; the ratios dyn53 (rrl)/NSD; the cost of
#      rate limiting (µs per query against `off`); with two sizes or more, the bytes each
#      further host costs (the slope between the smallest and the largest size);
#   6. at the first size, sends $UPDATES sequential dyndns2 updates to dyn53
#      (bench/update-latency.py) and prints p50/p99/max ms from the HTTP `good` to the new
#      address on the DNS port.
#
# Compare servers by CPU per query, not by raw q/s: on 2 shared cores q/s swings with the
# neighbours' load while CPU per query is stable to about ±15 % (see shared/STACK.md).
#
# Usage:   bench/dns-qps.sh
# Env:     SIZES="100000 1000000" DURATION=15 UPDATES=200 SERVER_CPU=1 LOAD_CPU=0 ROUNDS=3
#          DYN53_RUNS="rrl off charged" KEEP=1 (keep temp dir) DYN53_BIN=… (another build)
#          MIMALLOC_PURGE_DELAY=0 (the deploy bundle's; another value for a comparison)
# Needs:   dnsperf, nsd, dig (bind9-dnsutils), taskset, python3, cargo.
#          Debian: apt-get install -y dnsperf nsd bind9-dnsutils
set -euo pipefail

SIZES=${SIZES:-100000 1000000}
DURATION=${DURATION:-15}
UPDATES=${UPDATES:-200}
SERVER_CPU=${SERVER_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
DYN53_RUNS=${DYN53_RUNS:-rrl off charged}
ROUNDS=${ROUNDS:-3}
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
case " $DYN53_RUNS " in *" rrl "*) ;; *) die "DYN53_RUNS needs rrl (the run compared with NSD)" ;; esac

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

build_release

CLK_TCK=$(getconf CLK_TCK)
# One line per measured run: size server q/s µs/query q-per-CPU-second PSS-MB.
RESULTS=$WORK/results.txt
: >"$RESULTS"
LATENCY=

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

# Proportional memory of PID and its descendants, MB: a page shared by N processes counts
# 1/N in each (NSD's server child shares the zone with its parent), so the sum is what the
# server takes.
pss_mb() {
    local kb=0 pid
    for pid in $(tree_pids "$1"); do
        kb=$((kb + $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup" 2>/dev/null || echo 0)))
    done
    echo $((kb / 1024))
}

# Waits until `dig` gets the last generated host's address (hN for N = SIZE - 1, never
# updated) from 127.0.0.1:PORT.
wait_for_zone() {
    local port=$1 what=$2 size=$3 i want
    want=10.$((size >> 16)).$(((size >> 8) & 255)).$((size & 255))
    for i in $(seq 1 1200); do
        if [ "$(dig +short +time=1 +tries=1 @127.0.0.1 -p "$port" "h$((size - 1)).$ZONE" A 2>/dev/null)" = "$want" ]; then
            return 0
        fi
        sleep 0.1
    done
    die "$what does not answer for h$((size - 1)).$ZONE on port $port"
}

# run_dnsperf SIZE NAME PORT PID: one measured run; appends its line to $RESULTS.
run_dnsperf() {
    local size=$1 name=$2 port=$3 pid=$4 out before after
    out=$WORK/$size/dnsperf-$name.txt
    # Short warm-up so that every server starts hot.
    taskset -c "$LOAD_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/$size/queries.txt" -l 2 -c 4 -q 100 >/dev/null 2>&1 || true
    before=$(cpu_ticks "$pid")
    taskset -c "$LOAD_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$WORK/$size/queries.txt" -l "$DURATION" -c 4 -q 100 >"$out" 2>&1 ||
        { cat "$out" >&2; die "dnsperf against $name failed"; }
    after=$(cpu_ticks "$pid")
    python3 - "$out" "$before" "$after" "$CLK_TCK" "$size" "$name" "$(pss_mb "$pid")" >>"$RESULTS" <<'EOF'
import re, sys
path, before, after, tck, size, name, pss = sys.argv[1:8]
text = open(path).read()
completed = int(re.search(r"Queries completed:\s+(\d+)", text).group(1))
lost = int(re.search(r"Queries lost:\s+(\d+)", text).group(1))
qps = float(re.search(r"Queries per second:\s+([\d.]+)", text).group(1))
codes = re.search(r"Response codes:\s+(.*)", text).group(1)
cpu = (int(after) - int(before)) / int(tck)
us = cpu * 1e6 / completed if completed else float("nan")
per_cpu = completed / cpu if cpu else float("nan")
print(f"{name:13} {qps:10.0f} q/s {us:6.2f} µs CPU/query {per_cpu:10.0f} q/CPU-s "
      f"(completed {completed}, lost {lost}, server CPU {cpu:.2f} s, PSS {pss} MB; {codes})",
      file=sys.stderr)
print(size, name, qps, us, per_cpu, pss)
EOF
}

# start_dyn53 SIZE RUN: starts `dyn53 serve` on the size's data with RUN's rate limiting;
# sets DYN53_PID, HTTP_ADDR, DNS_ADDR.
start_dyn53() {
    local size=$1 run=$2 line i
    local -a rrl
    case $run in
        rrl) rrl=(DYN53_RRL_EXEMPT=127.0.0.1/32) ;;
        off) rrl=(DYN53_RRL_RATE=0) ;;
        charged) rrl=(DYN53_RRL_RATE=1000000) ;;
        *) die "unknown dyn53 run $run" ;;
    esac
    # MIMALLOC_PURGE_DELAY as the deploy bundle sets it (src/main.rs), unless given.
    env "${rrl[@]}" MIMALLOC_PURGE_DELAY="${MIMALLOC_PURGE_DELAY:-0}" DYN53_DATA_DIR="$WORK/$size/dyn53" \
        DYN53_HTTP_ADDR=127.0.0.1:0 DYN53_DNS_ADDR=127.0.0.1:0 DYN53_MINIUPDATE_ADDR=127.0.0.1:0 \
        DYN53_ZONES=$ZONE DYN53_ABUSE_LIMIT=1000000/1 \
        RUST_LOG='info,hickory_server=warn,hickory_net=warn,sqlx=warn,actix_web=warn' \
        taskset -c "$SERVER_CPU" "$BIN" serve >/dev/null 2>"$WORK/$size/dyn53-$run.log" &
    DYN53_PID=$!
    PIDS+=("$DYN53_PID")
    for i in $(seq 1 1200); do
        grep -q 'dyn53 listening' "$WORK/$size/dyn53-$run.log" && break
        kill -0 "$DYN53_PID" 2>/dev/null || { cat "$WORK/$size/dyn53-$run.log" >&2; die "dyn53 exited"; }
        sleep 0.1
    done
    line=$(grep -m1 'dyn53 listening' "$WORK/$size/dyn53-$run.log") || die "dyn53 did not start"
    HTTP_ADDR=$(sed -E 's/.*http=([0-9.:]+).*/\1/' <<<"$line")
    DNS_ADDR=$(sed -E 's/.*dns=([0-9.:]+).*/\1/' <<<"$line")
    wait_for_zone "${DNS_ADDR##*:}" dyn53 "$size"
    taskset -a -p -c "$SERVER_CPU" "$DYN53_PID" >/dev/null
}

stop() {
    kill -TERM "$1"
    wait "$1" 2>/dev/null || true
}

# bench_size SIZE: every run at one zone size.
bench_size() {
    local size=$1 dir=$WORK/$1 key run round nsd_port nsd_pid queries
    mkdir -p "$dir/nsd" "$dir/dyn53"
    # Enough distinct queries that the larger zones are not served from a few cache lines.
    queries=$((size > 200000 ? size : 200000))
    log "$size hosts: generating the zone and $queries queries"
    python3 - "$dir" "$size" "$queries" "$ZONE" "$EMAIL" <<'EOF'
import random, sys
work, hosts, queries, zone, email = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
assert hosts < (1 << 24) - 2, "10.0.0.0/8 holds the hosts"
def ip(n):
    n += 1
    return f"10.{n >> 16}.{(n >> 8) & 255}.{n & 255}"
with open(f"{work}/hosts.txt", "w") as imp, open(f"{work}/nsd/{zone}.zone", "w") as zf:
    zf.write(f"$ORIGIN {zone}.\n$TTL 60\n"
             f"@ IN SOA ns1.{zone}. hostmaster.{zone}. 1 3600 600 86400 60\n"
             f"@ IN NS ns1.{zone}.\nns1 IN A 127.0.0.1\n")
    for n in range(hosts):
        imp.write(f"h{n}.{zone} {email} {ip(n)}\n")
        zf.write(f"h{n} IN A {ip(n)}\n")
    # The host the latency run updates (kept out of the query mix).
    imp.write(f"lat.{zone} {email} 10.255.255.254\n")
    zf.write("lat IN A 10.255.255.254\n")
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

    log "$size hosts: loading the zone into dyn53 (SQLite)"
    (
        export DYN53_DATA_DIR=$dir/dyn53 RUST_LOG=warn
        unset DYN53_DATABASE_URL
        "$BIN" migrate >/dev/null 2>&1
        "$BIN" zone add "$ZONE" >/dev/null
        printf 'bench-password-1\n' | "$BIN" user add "$EMAIL" --password-stdin >/dev/null
        local t0=$SECONDS
        "$BIN" host import "$dir/hosts.txt" >/dev/null
        log "host import of $((size + 1)) hosts took $((SECONDS - t0)) s"
        "$BIN" key create --user "$EMAIL" --hosts "lat.$ZONE" | tr -d '[:space:]' >"$dir/key"
    )
    key=$(cat "$dir/key")

    nsd_port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >"$dir/nsd/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$nsd_port
    port: $nsd_port
    do-ip6: no
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$dir/nsd"
    database: ""
    zonelistfile: "$dir/nsd/zone.list"
    xfrdfile: "$dir/nsd/xfrd.state"
    xfrdir: "$dir/nsd"
    pidfile: "$dir/nsd/nsd.pid"
    logfile: "$dir/nsd/nsd.log"
    cookie-secret-file: "$dir/nsd/cookiesecrets.txt"
    verbosity: 1
    rrl-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: $ZONE
    zonefile: $ZONE.zone
EOF
    log "$size hosts: NSD on CPU $SERVER_CPU, port $nsd_port (idle but in its rounds)"
    taskset -c "$SERVER_CPU" nsd -d -c "$dir/nsd/nsd.conf" >"$dir/nsd/stdout.log" 2>&1 &
    nsd_pid=$!
    PIDS+=("$nsd_pid")
    wait_for_zone "$nsd_port" NSD "$size"
    taskset -a -p -c "$SERVER_CPU" "$nsd_pid" >/dev/null

    for run in $DYN53_RUNS; do
        log "$size hosts: dyn53 ($run) on CPU $SERVER_CPU"
        start_dyn53 "$size" "$run"
        if [ "$run" = rrl ]; then
            # dyn53 and NSD in turns, so that both meet the same neighbours' load.
            for round in $(seq 1 "$ROUNDS"); do
                log "$size hosts: round $round of $ROUNDS"
                run_dnsperf "$size" "dyn53-$run" "${DNS_ADDR##*:}" "$DYN53_PID"
                run_dnsperf "$size" nsd "$nsd_port" "$nsd_pid"
            done
        else
            run_dnsperf "$size" "dyn53-$run" "${DNS_ADDR##*:}" "$DYN53_PID"
        fi
        if [ "$run" = rrl ] && [ -z "$LATENCY" ] && [ "$UPDATES" -gt 0 ]; then
            log "update-to-answer latency: $UPDATES updates"
            LATENCY="($((size + 1))-host zone) "$(python3 "$BENCH/update-latency.py" --http "$HTTP_ADDR" \
                --dns "$DNS_ADDR" --host "lat.$ZONE" --login "$EMAIL" --secret "$key" --count "$UPDATES")
        fi
        stop "$DYN53_PID"
    done

    stop "$nsd_pid"
}

for size in $SIZES; do
    bench_size "$size"
done

# ---------------------------------------------------------------------------------------
echo
echo "== DNS: mix 80 % A / 10 % NODATA / 10 % NXDOMAIN, ${DURATION} s dnsperf (CPU $LOAD_CPU), server on CPU $SERVER_CPU, $(date -u +%F)"
echo "   dyn53 runs: rrl = rate limiting on, load generator exempt; off = --rrl-rate 0;"
echo "   charged = every answer charged to a bucket (--rrl-rate 1000000). NSD: rrl-ratelimit 0."
python3 - "$RESULTS" <<'EOF'
import sys
from statistics import median
rows = [line.split() for line in open(sys.argv[1])]
# Every run of a server at a size, in order: the rounds of dyn53 (rrl) and NSD pair up.
every = {}
for size, name, qps, us, per, pss in rows:
    every.setdefault((size, name), []).append((float(qps), float(us), float(per), int(pss)))
# A server's figures at a size: the median of its runs, each column on its own.
runs = {k: tuple(median(col) for col in zip(*v)) for k, v in every.items()}
sizes = sorted({int(r[0]) for r in rows})
print(f"{'hosts':>9} {'server':13} {'q/s':>9} {'CPU µs/q':>9} {'q/CPU-s':>9} {'PSS MB':>7} {'B/host':>7}")
for size in sizes:
    for name in [n for s, n in every if int(s) == size]:
        for i, (qps, us, per, pss) in enumerate(every[(str(size), name)]):
            label = name if len(every[(str(size), name)]) == 1 else f"{name} {i + 1}"
            print(f"{size:>9} {label:13} {qps:9.0f} {us:9.2f} {per:9.0f} {pss:7d} {pss * 2**20 / size:7.0f}")
print()
for size in sizes:
    pairs = list(zip(every[(str(size), "dyn53-rrl")], every[(str(size), "nsd")]))
    ratios = [d[2] / n[2] for d, n in pairs]
    d, n = runs[(str(size), "dyn53-rrl")], runs[(str(size), "nsd")]
    line = (f"{size:>9} hosts: dyn53 (rrl) / NSD: q/CPU-second x{median(ratios):.2f} (median of "
            f"rounds: {', '.join(f'x{r:.2f}' for r in ratios)}), memory per host "
            f"x{d[3] / n[3]:.2f}, q/s x{d[0] / n[0]:.2f}")
    off = runs.get((str(size), "dyn53-off"))
    if off:
        line += f"; RRL cost: {d[1] - off[1]:+.2f} µs/q with the load generator exempt"
        charged = runs.get((str(size), "dyn53-charged"))
        if charged:
            line += f", {charged[1] - off[1]:+.2f} µs/q charging every answer"
    print(line)
if len(sizes) > 1:
    lo, hi = sizes[0], sizes[-1]
    for name in ("dyn53-rrl", "nsd"):
        grow = (runs[(str(hi), name)][3] - runs[(str(lo), name)][3]) * 2**20 / (hi - lo)
        print(f"{name}: {grow:.0f} bytes per further host ({lo} -> {hi})")
EOF
if [ -n "$LATENCY" ]; then
    echo
    echo "== Update to answer (dyn53 serve, SQLite) $LATENCY"
fi
