#!/usr/bin/env bash
# bench/update-throughput.sh — dyndns2 and REST API updates per second against dyn53 on
# PostgreSQL, over HTTP keep-alive connections, with update-key and with password
# authentication.
#
# What it does (about 2 minutes after the release build):
#   1. cargo build --release; creates a fresh PostgreSQL database (dropped on exit);
#   2. creates the zone, one user (password auth), $HOSTS hosts hN.bench.test with known
#      addresses (`dyn53 host import`), an update key and an API-scope key for all of them;
#      VACUUM ANALYZE;
#   3. starts `dyn53 $SERVER_CMD` on that database and runs wrk ($CONNECTIONS keep-alive
#      connections, $THREADS threads, bench/update-throughput.lua) for $DURATION s per phase:
#        nochg  + key       every request repeats its host's current address
#        nochg  + password
#        change + key       every request sets a new address, round-robin over the hosts
#        change + password
#      and both again through POST /api/v1/hosts/HOST/update with an API key (Bearer),
#      each after a 2 s warm-up (nochg, same credentials: fills the verified-password
#      cache and the connection pool);
#   4. prints per phase: updates/s, latency p50/p99/max, the answers counted, and dyn53's
#      CPU time per update; at the end, dyn53's resident memory;
#   5. checks that every `good` answered is a committed `good` row in update_history (rows
#      may exceed answers by the requests in flight when wrk stopped, at most one per
#      connection), that no request failed, and that every host's address is the one of its
#      last committed `good`. Exits non-zero otherwise.
#
# The machine's two cores run wrk, dyn53 and PostgreSQL together: figures are for the whole
# system, and swing with the neighbours' load.
#
# Usage:   bench/update-throughput.sh
# Env:     HOSTS=10000 DURATION=15 CONNECTIONS=64 THREADS=2 KEEP=1 (keep temp dir)
#          PG=postgres://postgres@127.0.0.1:5432 (a role that may CREATE DATABASE)
#          PG_PARAMS=sslmode=disable (appended to the server's database URL)
#          SERVER_CMD=serve|web, REDIS=redis://127.0.0.1:6379 (for web)
# Needs:   wrk (apt-get install -y wrk), psql, python3, cargo, a running PostgreSQL; for
#          web, a running Redis and redis-cli.
set -euo pipefail

# The dyn53 command that serves HTTP updates on PostgreSQL: `serve`, or `web` (which also
# publishes every change to Redis at $REDIS, under a prefix of its own).
SERVER_CMD=${SERVER_CMD:-serve}

HOSTS=${HOSTS:-10000}
DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
# The server's connection: over loopback, TLS (sqlx's default when the server offers it)
# would add its encryption to every query.
PG_PARAMS=${PG_PARAMS:-sslmode=disable}
REDIS=${REDIS:-redis://127.0.0.1:6379}
ZONE=bench.test
EMAIL=bench@example.com
PASSWORD=bench-password-1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench

die() { echo "update-throughput: $*" >&2; exit 1; }
source "$ROOT/bench/common.sh"
for tool in wrk psql python3 cargo; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install -y wrk postgresql-client)"
done
[ "$HOSTS" -le 131000 ] || die "HOSTS: 198.18.0.0/15 holds 131072 addresses"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dyn53-bench.XXXXXX")
DB=dyn53_bench_$$
PREFIX=dyn53-bench-$$:
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB" 2>/dev/null || true
    if [ "$SERVER_CMD" = web ]; then
        redis-cli -u "$REDIS" --scan --pattern "$PREFIX*" | xargs -r -n 100 redis-cli -u "$REDIS" DEL >/dev/null
    fi
    if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sql() { psql -qAt "$PG/$DB" -c "$1"; }

# ---------------------------------------------------------------------------------------
build_release

log "database $DB, $HOSTS hosts"
psql -q "$PG/postgres" -c "CREATE DATABASE $DB"
export DYN53_DATABASE_URL=$PG/$DB?$PG_PARAMS DYN53_DATA_DIR=$WORK/data RUST_LOG=warn
export DYN53_REDIS_URL=$REDIS DYN53_REDIS_PREFIX=$PREFIX
# A load generator updates hosts far more often than abuse control lets a client.
export DYN53_ABUSE_LIMIT=1000000/1 DYN53_API_RATE_LIMIT=1000000/1
python3 - "$WORK/hosts.txt" "$HOSTS" "$ZONE" "$EMAIL" <<'EOF'
import sys
path, hosts, zone, email = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(path, "w") as f:
    for n in range(hosts):
        m = n + 1  # the same formula as update-throughput.lua's `imported`
        f.write(f"h{n}.{zone} {email} 198.{18 + (m >> 16)}.{(m >> 8) & 255}.{m & 255}\n")
EOF
"$BIN" zone add "$ZONE" >/dev/null
printf '%s\n' "$PASSWORD" | "$BIN" user add "$EMAIL" --password-stdin >/dev/null
"$BIN" host import "$WORK/hosts.txt" >/dev/null
KEY=$("$BIN" key create --user "$EMAIL" | tr -d '[:space:]')
API_KEY=$("$BIN" key create --user "$EMAIL" --scope api | tr -d '[:space:]')
# Vacuum and statistics for the imported rows now rather than at autovacuum's next round,
# during a phase: without statistics the planner finds a host through its account (all
# $HOSTS rows) instead of its name.
sql "VACUUM ANALYZE"

log "starting dyn53 $SERVER_CMD"
# MALLOC_MMAP_THRESHOLD_ as deploy/dyn53.service sets it (argon2id's 19 MiB blocks).
MALLOC_MMAP_THRESHOLD_=4194304 DYN53_HTTP_ADDR=127.0.0.1:0 DYN53_DNS_ADDR=127.0.0.1:0 DYN53_MINIUPDATE_ADDR=off DYN53_ZONES=$ZONE \
    RUST_LOG='info,hickory_server=warn,sqlx=warn,actix_web=warn' \
    "$BIN" "$SERVER_CMD" >/dev/null 2>"$WORK/dyn53.log" &
SERVER_PID=$!
READY='dyn53 (web )?listening'
for _ in $(seq 1 600); do
    grep -Eq "$READY" "$WORK/dyn53.log" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/dyn53.log" >&2; die "dyn53 exited"; }
    sleep 0.1
done
LINE=$(grep -Em1 "$READY" "$WORK/dyn53.log") || die "dyn53 did not start"
HTTP_ADDR=$(sed -E 's/.*http=([0-9.:]+).*/\1/' <<<"$LINE")
URL=http://$HTTP_ADDR

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$SERVER_PID/stat" | awk '{print $12 + $13}'; }
count() { sql "SELECT count(*) FROM update_history WHERE result = '$1'"; }

# run_phase NAME MODE SECRET FIRST_OCTET [PROTO]: one measured wrk run; prints its table
# row. PROTO `api`: the REST API with SECRET as bearer key; else dyndns2 with HTTP Basic.
FAILED=
run_phase() {
    local name=$1 mode=$2 secret=$3 octet=$4 proto=${5:-dyndns2} auth out before_good before_nochg ticks
    if [ "$proto" = api ]; then
        auth="Bearer $secret"
    else
        auth="Basic $(printf '%s:%s' "$EMAIL" "$secret" | base64 -w0)"
    fi
    wrk -t "$THREADS" -c "$CONNECTIONS" -d 2s -s "$BENCH/update-throughput.lua" "$URL" \
        -- nochg "$HOSTS" "$ZONE" "$auth" 0 "$THREADS" "$proto" >/dev/null
    sleep 1 # the buffered nochg check-ins of the warm-up reach the database
    before_good=$(count good)
    before_nochg=$(count nochg)
    ticks=$(cpu_ticks)
    out=$WORK/wrk-$name.txt
    wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" -s "$BENCH/update-throughput.lua" \
        "$URL" -- "$mode" "$HOSTS" "$ZONE" "$auth" "$octet" "$THREADS" "$proto" >"$out" 2>&1 ||
        { cat "$out" >&2; die "wrk failed"; }
    ticks=$(($(cpu_ticks) - ticks))
    sleep 1
    python3 - "$name" "$mode" "$(grep '^RESULT' "$out")" "$((ticks * 1000000 / CLK_TCK))" \
        "$(($(count good) - before_good))" "$(($(count nochg) - before_nochg))" "$CONNECTIONS" <<'EOF' ||
import sys
name, mode, line, cpu_us, good_rows, nochg_rows, conns = sys.argv[1:8]
r = {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
good_rows, nochg_rows, conns = int(good_rows), int(nochg_rows), int(conns)
answered = r["good"] + r["nochg"]
print(f"{name:18} {answered / r['seconds']:9.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['max_ms']:8.1f}"
      f" {int(r['good']):9d} {int(r['nochg']):9d} {good_rows:9d} {nochg_rows:9d} {int(cpu_us) / answered:9.0f}")
problems = []
if r["other"] or r["errors"]:
    problems.append(f"{int(r['other'])} unexpected answers, {int(r['errors'])} failed requests")
if mode == "change" and r["nochg"]:
    problems.append(f"{int(r['nochg'])} nochg answers to changing updates")
if mode == "nochg" and (r["good"] or good_rows):
    problems.append(f"{int(r['good'])} good answers / {good_rows} good rows to unchanged updates")
# Every good answered is a committed row; rows beyond the answers were in flight at the end.
if not r["good"] <= good_rows <= r["good"] + conns:
    problems.append(f"{int(r['good'])} good answered but {good_rows} good rows committed")
for p in problems:
    print(f"  FAILED: {p}")
sys.exit(1 if problems else 0)
EOF
        FAILED=1
}

log "$DURATION s per phase, $CONNECTIONS connections, $THREADS wrk threads, dyn53 on $URL"
echo
echo "== dyn53 $SERVER_CMD on PostgreSQL, $HOSTS hosts, wrk -t $THREADS -c $CONNECTIONS -d ${DURATION}s, $(date -u +%F)"
printf '%-18s %9s %8s %8s %8s %9s %9s %9s %9s %9s\n' phase 'updates/s' 'p50 ms' 'p99 ms' 'max ms' \
    'good' 'nochg' 'good rows' 'nochg rows' 'µs CPU'
run_phase "nochg, key" nochg "$KEY" 0
run_phase "nochg, password" nochg "$PASSWORD" 0
run_phase "nochg, API key" nochg "$API_KEY" 0 api
run_phase "change, key" change "$KEY" 10
run_phase "change, password" change "$PASSWORD" 11
run_phase "change, API key" change "$API_KEY" 12 api

# Each host's address is the one its last committed `good` set.
STALE=$(sql "SELECT count(*) FROM hosts h WHERE h.ipv4 IS DISTINCT FROM
    (SELECT u.ipv4 FROM update_history u WHERE u.host_id = h.id AND u.result = 'good'
     ORDER BY u.id DESC LIMIT 1) AND EXISTS
    (SELECT 1 FROM update_history u WHERE u.host_id = h.id AND u.result = 'good')")
echo "hosts whose address is not their last committed good: $STALE"
echo "dyn53 resident memory after the run: $(awk '/^VmRSS/ {printf "%d MB", $2 / 1024}' "/proc/$SERVER_PID/status")"
echo "(good/nochg: answers counted by wrk; rows: update_history rows written during the phase;"
echo " µs CPU: dyn53's own CPU time per answered update, PostgreSQL and wrk not included)"
[ "$STALE" = 0 ] || FAILED=1
kill -0 "$SERVER_PID" 2>/dev/null || die "dyn53 died during the run"
[ -z "$FAILED" ] || die "some checks failed (see above)"
