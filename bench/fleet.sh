#!/usr/bin/env bash
# bench/fleet.sh — the fleet: update propagation to every node, and a node's cold start.
#
# What it does (about 3 minutes after the release build):
#   1. cargo build --release (dyn53 and the `propagation` example, bench/propagation.rs);
#      creates a fresh PostgreSQL database (dropped on exit) and uses the machine's Redis
#      under a prefix of its own (deleted on exit);
#   2. propagation: `dyn53 web` and $NODES `dyn53 dns` nodes, $HOSTS hosts; the example
#      sends $RATE dyndns2 updates/s (update key, $WORKERS keep-alive connections) for
#      $DURATION s and, after each `good`, polls every node over UDP until all of them serve
#      the new address. Prints p50/p99/max of that time (the target is p99 < 50 ms);
#   3. cold start: stops them, imports $COLD_HOSTS more hosts, times `dyn53 republish`
#      (the copy written to Redis), then starts a node with an empty data directory and
#      times it until its status port says ready (the target is < 10 s), and reads its
#      resident memory against a node serving an empty deployment (target < 300 bytes per
#      host); then restarts it and times the start from its local copy.
#
# Usage:   bench/fleet.sh
# Env:     NODES=3 HOSTS=1000 RATE=1000 DURATION=30 WORKERS=16 COLD_HOSTS=1000000 KEEP=1
#          PG=postgres://postgres@127.0.0.1:5432 REDIS=redis://127.0.0.1:6379
# Needs:   psql, redis-cli, curl, python3, cargo, running PostgreSQL and Redis.
set -euo pipefail

NODES=${NODES:-3}
HOSTS=${HOSTS:-1000}
RATE=${RATE:-1000}
DURATION=${DURATION:-30}
WORKERS=${WORKERS:-16}
COLD_HOSTS=${COLD_HOSTS:-1000000}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
REDIS=${REDIS:-redis://127.0.0.1:6379}
EMAIL=bench@example.com

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
die() { echo "fleet: $*" >&2; exit 1; }
source "$ROOT/bench/common.sh"
for tool in psql redis-cli curl python3 cargo; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done

build_release --example propagation
DYN53=$BIN
PROPAGATION=$TARGET/release/examples/propagation

WORK=$(mktemp -d /tmp/dyn53-fleet-bench.XXXXXX)
DB=dyn53_fleet_bench_$$
PREFIX="fleetbench$$:"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    for prefix in "$PREFIX" "empty$PREFIX"; do
        redis-cli -u "$REDIS" --scan --pattern "$prefix*" | xargs -r -n 100 redis-cli -u "$REDIS" DEL >/dev/null
    done
    if [[ -n ${KEEP:-} ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

wait_for() { # URL, seconds: until it answers 200
    local deadline=$((SECONDS + $2))
    until curl -sf -o /dev/null "$1"; do
        ((SECONDS < deadline)) || die "$1 not ready in $2 s"
        sleep 0.05
    done
}
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

psql -q "$PG/postgres" -c "CREATE DATABASE $DB" >/dev/null
export DYN53_DATABASE_URL=$PG/$DB DYN53_REDIS_URL=$REDIS DYN53_REDIS_PREFIX=$PREFIX
export DYN53_DATA_DIR=$WORK/web DYN53_ZONES=bench.test,cold.test RUST_LOG=warn
# A load generator updates hosts far more often than abuse control lets a client.
export DYN53_ABUSE_LIMIT=1000000/1

"$DYN53" migrate 2>/dev/null
echo "bench-password-1" | "$DYN53" user add $EMAIL --password-stdin 2>/dev/null
python3 -c "
for i in range($HOSTS): print(f'h{i}.bench.test $EMAIL 192.0.2.1')" > "$WORK/hosts.txt"
"$DYN53" zone add bench.test 2>/dev/null
"$DYN53" zone add cold.test 2>/dev/null
"$DYN53" host import "$WORK/hosts.txt" 2>/dev/null
KEY=$("$DYN53" key create --user $EMAIL 2>/dev/null)

start_node() { # NAME, PREFIX: starts a node; sets NODE_PID, NODE_DNS, NODE_STATUS
    NODE_DNS=127.0.0.1:$(free_port)
    NODE_STATUS=127.0.0.1:$(free_port)
    # The propagation poller asks from loopback far above a resolver's rate: exempt it
    # from response rate limiting, which this benchmark does not measure.
    DYN53_REDIS_PREFIX=$2 DYN53_DATA_DIR=$WORK/$1 DYN53_NODE_ID=$1 DYN53_DNS_ADDR=$NODE_DNS \
        DYN53_RRL_EXEMPT=127.0.0.0/8 \
        DYN53_NODE_STATUS_ADDR=$NODE_STATUS "$DYN53" dns 2>"$WORK/$1.log" &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
}

echo "== propagation: $NODES nodes, $HOSTS hosts, $RATE updates/s for $DURATION s"
HTTP=127.0.0.1:$(free_port)
DYN53_HTTP_ADDR=$HTTP DYN53_MINIUPDATE_ADDR=off "$DYN53" web 2>"$WORK/web.log" &
WEB_PID=$!
PIDS+=("$WEB_PID")
wait_for "http://$HTTP/readyz" 30
DNS_LIST=()
NODE_PIDS=()
for n in $(seq 1 "$NODES"); do
    start_node "node$n" "$PREFIX"
    wait_for "http://$NODE_STATUS/readyz" 30
    DNS_LIST+=("$NODE_DNS")
    NODE_PIDS+=("$NODE_PID")
done
DNS_CSV=$(IFS=,; echo "${DNS_LIST[*]}")
"$PROPAGATION" --http "$HTTP" --dns "$DNS_CSV" --login $EMAIL --secret "$KEY" \
    --zone bench.test --hosts "$HOSTS" --rate "$RATE" --seconds "$DURATION" --workers "$WORKERS"
"$DYN53" fleet
kill "$WEB_PID" "${NODE_PIDS[@]}"
wait "$WEB_PID" "${NODE_PIDS[@]}" 2>/dev/null || true

echo "== cold start: $COLD_HOSTS more hosts"
python3 -c "
for i in range($COLD_HOSTS): print(f'c{i}.cold.test $EMAIL 198.18.{i >> 8 & 255}.{i & 255}')" > "$WORK/cold.txt"
t0=$(now); "$DYN53" host import "$WORK/cold.txt" 2>/dev/null; t1=$(now)
echo "host import: $(secs "$t0" "$t1") s"
t0=$(now); "$DYN53" republish 2>/dev/null; t1=$(now)
echo "republish (copy of $((COLD_HOSTS + HOSTS)) hosts written to Redis): $(secs "$t0" "$t1") s"
redis-cli -u "$REDIS" info memory | grep -E '^used_memory_human' | sed 's/^/redis /'

# A baseline: a node of a deployment with nothing in Redis (it waits, serving nothing).
start_node empty "empty$PREFIX"
wait_for "http://$NODE_STATUS/healthz" 30
sleep 1
BASE_KB=$(rss_kb "$NODE_PID")
kill "$NODE_PID"

t0=$(now)
start_node cold "$PREFIX"
wait_for "http://$NODE_STATUS/readyz" 60
t1=$(now)
sleep 2
RSS_KB=$(rss_kb "$NODE_PID")
NAMES=$(curl -s "http://$NODE_STATUS/metrics" | awk '/^dyn53_node_names/ {print $2}')
echo "cold start from Redis (empty data dir) to ready: $(secs "$t0" "$t1") s, $NAMES names"
python3 -c "
rss, base, hosts = $RSS_KB * 1024, $BASE_KB * 1024, $COLD_HOSTS + $HOSTS
print(f'resident memory: {rss/1e6:.0f} MB (empty node {base/1e6:.1f} MB): '
      f'{(rss-base)/hosts:.0f} bytes per host above the empty node, {rss/hosts:.0f} all in')"
kill "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true
ls -la "$WORK/cold" | awk '/node-/ {print "local copy file:", $9, $5, "bytes"}'
t0=$(now)
start_node cold "$PREFIX"
wait_for "http://$NODE_STATUS/readyz" 60
t1=$(now)
echo "restart from the local copy to ready: $(secs "$t0" "$t1") s"
