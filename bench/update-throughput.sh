#!/usr/bin/env bash
# bench/update-throughput.sh — dyndns2 and REST API updates per second, at several numbers
# of hosts, embedded (`dyn53 serve` on SQLite) and on PostgreSQL (`dyn53 web` with a
# `dyn53 dns` node following it through Redis), over HTTP keep-alive connections, with
# update-key and with password authentication. A cost that grows with the number of hosts
# shows as a row that falls from left to right.
#
# For each backend and each size in $SIZES:
#   1. a fresh database (PostgreSQL: created, dropped on exit; SQLite: a new data dir), the
#      zone, one user (password auth), N hosts hN.bench.test (`dyn53 host import`), an update
#      key and an API-scope key for all of them; VACUUM ANALYZE;
#   2. starts the server (abuse window of 10 minutes as in production, with a budget a load
#      generator cannot reach: every host seen stays a live key in the counters) and runs wrk
#      ($CONNECTIONS keep-alive connections, bench/update-throughput.lua) for $DURATION s per
#      phase, requests rotating over all N hosts, each phase after a 2 s warm-up:
#        nochg  + key / password / API key   every request repeats its host's address
#        change + key / password / API key   every request sets an address its host never had
#   3. checks that no request failed, every `good` answered is a committed `good` row (rows
#      may exceed answers by the requests in flight when wrk stopped), every host's address
#      is the one of its last committed `good` (in `hosts` and in `host_addresses`, which
#      the console's search by address reads), and the DNS server answers that address for
#      $SAMPLE hosts drawn at random. Exits non-zero otherwise.
# At the end it prints, per backend, updates/s and p50/p99 latency per phase and size side
# by side, and the CPU per update of dyn53, PostgreSQL, Redis and the whole machine.
#
# The machine's two cores run wrk, dyn53 and PostgreSQL together: figures are for the whole
# system, and swing with the neighbours' load.
#
# Usage:   bench/update-throughput.sh
# Env:     SIZES="10000 100000 1000000" BACKENDS="sqlite postgres" DURATION=15 CONNECTIONS=64
#          THREADS=2 PHASES="nochg-key nochg-password nochg-api change-key change-password change-api"
#          (also nochg-hostkey, change-hostkey: each host with a key of its own)
#          SAMPLE=200 KEEP=1 (keep the temp dir)
#          FIRST_CHECK_IN=1 (hosts never seen before the run, instead of seen once)
#          MIMALLOC_PURGE_DELAY=0 (the deploy bundle's: 1000 for web, 0 for serve and dns;
#          another value for a comparison, for every process)
#          PG=postgres://postgres@127.0.0.1:5432 (a role that may CREATE DATABASE)
#          PG_PARAMS=sslmode=disable (appended to the server's database URL)
#          PG_CMD=web|serve (the command on PostgreSQL), REDIS=redis://127.0.0.1:6379
# Needs:   wrk, psql, dig, python3, cargo, a running PostgreSQL and Redis.
set -euo pipefail

SIZES=${SIZES:-10000 100000 1000000}
BACKENDS=${BACKENDS:-sqlite postgres}
PHASES=${PHASES:-nochg-key nochg-password nochg-api change-key change-password change-api}
DURATION=${DURATION:-15}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
SAMPLE=${SAMPLE:-200}
PG=${PG:-postgres://postgres@127.0.0.1:5432}
# The server's connection: over loopback, TLS (sqlx's default when the server offers it)
# would add its encryption to every query.
PG_PARAMS=${PG_PARAMS:-sslmode=disable}
PG_CMD=${PG_CMD:-web}
REDIS=${REDIS:-redis://127.0.0.1:6379}
ZONE=bench.test
EMAIL=bench@example.com
PASSWORD=bench-password-1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench

die() { echo "update-throughput: $*" >&2; exit 1; }
source "$ROOT/bench/common.sh"
for tool in wrk psql dig python3 cargo; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install -y wrk postgresql-client bind9-dnsutils)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dyn53-bench.XXXXXX")
RESULTS=$WORK/results.tsv
: >"$RESULTS"
DB=
PREFIX=
PIDS=()
stop_servers() {
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
    if [ -n "$DB" ]; then psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $DB" 2>/dev/null || true; fi
    if [ -n "$PREFIX" ]; then
        redis-cli -u "$REDIS" --scan --pattern "$PREFIX*" | xargs -r -n 100 redis-cli -u "$REDIS" DEL >/dev/null
    fi
    DB= PREFIX=
}
cleanup() {
    stop_servers
    if [ -n "${KEEP:-}" ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# sql QUERY: one value from the run's database, whichever backend.
sql() {
    if [ "$BACKEND" = postgres ]; then
        psql -qAt "$PG/$DB" -c "$1"
    else
        python3 -c 'import sqlite3, sys
for row in sqlite3.connect(sys.argv[1], isolation_level=None).execute(sys.argv[2]): print("|".join(map(str, row)))' \
            "$DATA/dyn53.db" "$1"
    fi
}

# wait_for LOG PATTERN PID: until the server says PATTERN in its log.
wait_for() {
    for _ in $(seq 1 1200); do
        grep -Eqs "$2" "$1" && return 0
        kill -0 "$3" 2>/dev/null || { cat "$1" >&2; die "a server exited"; }
        sleep 0.1
    done
    die "no '$2' in $1"
}

# setup BACKEND HOSTS: database, hosts and keys; starts the servers; sets URL, DNS_PORT.
setup() {
    local hosts=$1
    DATA=$WORK/data-$BACKEND-$hosts
    mkdir -p "$DATA"
    export DYN53_DATA_DIR=$DATA RUST_LOG=warn
    unset DYN53_DATABASE_URL
    if [ "$BACKEND" = postgres ]; then
        DB=dyn53_bench_$$_$hosts
        PREFIX=dyn53-bench-$$-$hosts:
        psql -q "$PG/postgres" -c "CREATE DATABASE $DB"
        export DYN53_DATABASE_URL=$PG/$DB?$PG_PARAMS
    fi
    python3 - "$WORK/hosts.txt" "$hosts" "$ZONE" "$EMAIL" <<'EOF'
import sys
path, hosts, zone, email = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
with open(path, "w") as f:
    for n in range(hosts):
        m = (n + 1) % 131072  # as update-throughput.lua's `imported`: 198.18.0.0/15, repeating
        f.write(f"h{n}.{zone} {email} 198.{18 + (m >> 16)}.{(m >> 8) & 255}.{m & 255}\n")
EOF
    # Operator commands open an existing database only: the services' own start would make it.
    "$BIN" migrate 2>/dev/null
    "$BIN" zone add "$ZONE" >/dev/null
    printf '%s\n' "$PASSWORD" | "$BIN" user add "$EMAIL" --password-stdin >/dev/null
    local started=$SECONDS
    "$BIN" host import "$WORK/hosts.txt" >/dev/null
    log "imported $hosts hosts in $((SECONDS - started)) s"
    KEY=$("$BIN" key create --user "$EMAIL" | tr -d '[:space:]')
    API_KEY=$("$BIN" key create --user "$EMAIL" --scope api | tr -d '[:space:]')
    # A running service: every host has checked in before, from the agent and the address
    # the load comes with (bench/update-throughput.lua), as a fleet of routers does every
    # few minutes. A host's first check-in also fills its "last seen" columns, which are
    # indexed: its costlier write is not what a check-in usually costs. FIRST_CHECK_IN=1
    # measures that instead.
    if [ -z "${FIRST_CHECK_IN:-}" ]; then
        sql "UPDATE hosts SET last_agent = 'dyn53-bench/1', last_source = '127.0.0.1',
             last_protocol = 'dyndns2', updated_at = CURRENT_TIMESTAMP" >/dev/null
    fi
    # A key of each host's own, limited to it, for the `-hostkey` phases: a fleet of
    # devices each with its key. Made in the database, as `key create` a million times
    # would take long; the secret of hN's is `dyn53_hk` and N on 30 digits
    # (update-throughput.lua), stored as its SHA-256 as `key create` stores one; each
    # used once before, as the hosts were seen.
    if [[ " $PHASES " == *-hostkey* ]]; then host_keys; fi
    # Statistics for the imported rows now rather than at autovacuum's next round: without
    # them the planner finds a host through its account (all its rows) instead of its name.
    if [ "$BACKEND" = postgres ]; then sql "VACUUM ANALYZE"; else sql "ANALYZE" >/dev/null; fi

    local cmd=serve
    [ "$BACKEND" = postgres ] && cmd=$PG_CMD
    # The production abuse window (10 minutes) with a budget no load generator reaches;
    # MIMALLOC_PURGE_DELAY as the deploy bundle sets it for each command (src/main.rs),
    # unless given.
    local purge=0
    [ "$cmd" = web ] && purge=1000
    MIMALLOC_PURGE_DELAY=${MIMALLOC_PURGE_DELAY:-$purge} DYN53_ABUSE_LIMIT=1000000/600 DYN53_API_RATE_LIMIT=1000000/1 \
        DYN53_REDIS_URL=$REDIS DYN53_REDIS_PREFIX=$PREFIX \
        DYN53_HTTP_ADDR=127.0.0.1:0 DYN53_DNS_ADDR=127.0.0.1:0 DYN53_MINIUPDATE_ADDR=off DYN53_RRL_EXEMPT=127.0.0.0/8 \
        DYN53_ZONES=$ZONE RUST_LOG=info,hickory_server=warn,sqlx=warn,actix_web=warn \
        "$BIN" "$cmd" >/dev/null 2>"$DATA/dyn53.log" &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_for "$DATA/dyn53.log" 'dyn53 (web )?listening' "$SERVER_PID"
    local line
    line=$(grep -Em1 'dyn53 (web )?listening' "$DATA/dyn53.log")
    URL=http://$(sed -E 's/.*http=([0-9.:]+).*/\1/' <<<"$line")
    if [ "$cmd" = web ]; then
        local node_dir=$WORK/node-$hosts
        MIMALLOC_PURGE_DELAY=${MIMALLOC_PURGE_DELAY:-0} DYN53_DATA_DIR=$node_dir DYN53_REDIS_URL=$REDIS DYN53_REDIS_PREFIX=$PREFIX \
            DYN53_DNS_ADDR=127.0.0.1:0 DYN53_NODE_ID=bench-$$ DYN53_RRL_EXEMPT=127.0.0.0/8 \
            RUST_LOG=info "$BIN" dns >/dev/null 2>"$node_dir.log" &
        local node=$!
        PIDS+=("$node")
        # Measured once the node has loaded the copy that `web` writes to Redis when it
        # starts: at 1,000,000 hosts both fell in the first phase.
        wait_for "$node_dir.log" 'snapshot loaded' "$node"
        line=$(grep -Em1 'dyn53 node listening' "$node_dir.log")
    fi
    DNS_PORT=$(sed -E 's/.*dns=[0-9.]+:([0-9]+).*/\1/' <<<"$line")
}

# host_keys: the key of each host, in the run's database.
host_keys() {
    local used="now(), '127.0.0.1'"
    [ -n "${FIRST_CHECK_IN:-}" ] && used="NULL, NULL"
    if [ "$BACKEND" = postgres ]; then
        sql "INSERT INTO update_keys (account_id, user_id, name, prefix, digest, scope, miniupdate,
             created_at, limited, last_used_at, last_used_from)
             SELECT h.account_id, u.id, h.name, 'dyn53_hk0000',
                    encode(sha256(convert_to('dyn53_hk' ||
                        lpad(substr(split_part(h.name, '.', 1), 2), 30, '0'), 'UTF8')), 'hex'),
                    'update', false, now(), true, $used
             FROM hosts h JOIN users u ON u.account_id = h.account_id" >/dev/null
    else
        python3 - "$DATA/dyn53.db" "${FIRST_CHECK_IN:-}" <<'EOF'
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
now = "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')"
used = "NULL, NULL" if sys.argv[2] else f"{now}, '127.0.0.1'"
rows = db.execute("SELECT h.account_id, u.id, h.name FROM hosts h "
                  "JOIN users u ON u.account_id = h.account_id").fetchall()
def digest(name):
    n = name.split(".")[0][1:]
    return hashlib.sha256(f"dyn53_hk{n.zfill(30)}".encode()).hexdigest()
db.executemany(
    "INSERT INTO update_keys (account_id, user_id, name, prefix, digest, scope, miniupdate, "
    f"created_at, limited, last_used_at, last_used_from) VALUES (?, ?, ?, 'dyn53_hk0000', ?, "
    f"'update', 0, {now}, 1, {used})",
    [(a, u, name, digest(name)) for a, u, name in rows])
db.commit()
EOF
    fi
    sql "INSERT INTO update_key_hosts (key_id, host_id)
         SELECT k.id, h.id FROM update_keys k JOIN hosts h ON h.name = k.name" >/dev/null
}

CLK_TCK=$(getconf CLK_TCK)
# ticks PID...: user + system CPU of the processes, in clock ticks (a process gone is 0).
ticks() {
    local pid sum=0 t
    for pid in "$@"; do
        t=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}')
        sum=$((sum + ${t:-0}))
    done
    echo "$sum"
}
# cpu_ticks: "dyn53 PostgreSQL Redis machine" CPU so far, in clock ticks; the machine's is
# every CPU's busy time (all of /proc/stat's first line but idle and iowait).
cpu_ticks() {
    local machine
    machine=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat)
    echo "$(ticks "$SERVER_PID") $(ticks $(pgrep -x postgres)) $(ticks $(pgrep -x redis-server)) $machine"
}
count() { sql "SELECT count(*) FROM update_history WHERE result = '$1'"; }

# run_phase HOSTS PHASE: one measured wrk run; appends its row to $RESULTS.
FAILED=
run_phase() {
    local hosts=$1 phase=$2 mode=${2%%-*} cred=${2#*-} proto=dyndns2 secret auth octet out
    local before_good before_nochg before after
    case $cred in
        key) secret=$KEY octet=10 ;;
        hostkey) secret= octet=13 ;;
        password) secret=$PASSWORD octet=11 ;;
        api) secret=$API_KEY octet=12 proto=api ;;
    esac
    if [ "$proto" = api ]; then
        auth="Bearer $secret"
    elif [ "$cred" = hostkey ]; then
        auth="hostkey:$EMAIL" # each host's own key (update-throughput.lua)
    else
        auth="Basic $(printf '%s:%s' "$EMAIL" "$secret" | base64 -w0)"
    fi
    # Warm-up: the verified-password cache, the connection pool.
    wrk -t "$THREADS" -c "$CONNECTIONS" -d 2s -s "$BENCH/update-throughput.lua" "$URL" \
        -- nochg "$hosts" "$ZONE" "$auth" 0 "$THREADS" "$proto" >/dev/null
    sleep 1 # the buffered nochg check-ins of the warm-up reach the database
    before_good=$(count good)
    before_nochg=$(count nochg)
    before=$(cpu_ticks)
    out=$WORK/wrk-$BACKEND-$hosts-$phase.txt
    wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" -s "$BENCH/update-throughput.lua" \
        "$URL" -- "$mode" "$hosts" "$ZONE" "$auth" "$octet" "$THREADS" "$proto" >"$out" 2>&1 ||
        { cat "$out" >&2; die "wrk failed"; }
    after=$(cpu_ticks)
    sleep 1
    python3 - "$BACKEND" "$hosts" "$phase" "$mode" "$(grep '^RESULT' "$out")" \
        "$before" "$after" "$CLK_TCK" "$(($(count good) - before_good))" \
        "$(($(count nochg) - before_nochg))" "$CONNECTIONS" >>"$RESULTS" <<'EOF' ||
import sys
backend, hosts, phase, mode, line, before, after, clk_tck, good_rows, nochg_rows, conns = sys.argv[1:12]
r = {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
good_rows, conns = int(good_rows), int(conns)
answered = r["good"] + r["nochg"]
# CPU µs per update: dyn53, PostgreSQL, Redis, the whole machine (wrk and the DNS node too).
per_update = [(int(a) - int(b)) * 1e6 / int(clk_tck) / max(answered, 1)
              for b, a in zip(before.split(), after.split())]
print(f"{backend}\t{hosts}\t{phase}\t{answered / r['seconds']:.0f}\t{r['p50_ms']:.1f}\t"
      f"{r['p99_ms']:.1f}\t" + "\t".join(f"{us:.0f}" for us in per_update))
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
    print(f"FAILED {backend} {hosts} {phase}: {p}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
        FAILED=1
}

# check_served HOSTS: every host at its last committed good, in hosts and host_addresses,
# and DNS answering it for a sample of hosts.
check_served() {
    local hosts=$1 stale astray wrong=0 n want got
    stale=$(sql "SELECT count(*) FROM hosts h WHERE h.ipv4 IS DISTINCT FROM
        (SELECT u.ipv4 FROM update_history u WHERE u.host_id = h.id AND u.result = 'good'
         ORDER BY u.id DESC LIMIT 1) AND EXISTS
        (SELECT 1 FROM update_history u WHERE u.host_id = h.id AND u.result = 'good')")
    # The console's search by address reads host_addresses: it must hold each host's.
    astray=$(sql "SELECT count(*) FROM hosts h LEFT JOIN host_addresses a ON a.host_id = h.id
        WHERE a.host_id IS NULL OR COALESCE(h.ipv4, '') <> COALESCE(a.ipv4, '')
        OR COALESCE(h.ipv6, '') <> COALESCE(a.ipv6, '')")
    sleep 1 # the last commits reach the DNS node
    for n in $(python3 -c "import random; print(*random.sample(range($hosts), min($SAMPLE, $hosts)))"); do
        want=$(sql "SELECT ipv4 FROM hosts WHERE name = 'h$n.$ZONE'")
        # dig's socket, like the node's, allows SO_REUSEPORT: now and then the kernel gives
        # it the node's port, and dig hears its own query (";; Warning: query response not
        # set"). Asked again from another port.
        for _ in 1 2 3; do
            got=$(dig +short +tries=2 +time=1 @127.0.0.1 -p "$DNS_PORT" "h$n.$ZONE" A)
            [[ $got == ";;"* ]] || break
        done
        [ "$got" = "$want" ] || { wrong=$((wrong + 1)); [ $wrong -le 3 ] && log "h$n: DNS $got, database $want"; }
    done
    log "$BACKEND, $hosts hosts: $stale hosts not at their last good, $astray not so in host_addresses; DNS wrong for $wrong of $SAMPLE sampled"
    if [ "$stale" != 0 ] || [ "$astray" != 0 ] || [ "$wrong" != 0 ]; then FAILED=1; fi
    echo "$BACKEND $hosts: resident memory $(awk '/^VmRSS/ {printf "%d MB", $2 / 1024}' "/proc/$SERVER_PID/status")" >>"$WORK/memory.txt"
}

# ---------------------------------------------------------------------------------------
build_release
for BACKEND in $BACKENDS; do
    for hosts in $SIZES; do
        log "$BACKEND: $hosts hosts"
        setup "$hosts"
        for phase in $PHASES; do run_phase "$hosts" "$phase"; done
        check_served "$hosts"
        stop_servers
    done
done

echo
echo "== updates/s (p50 / p99 ms) [dyn53 µs CPU per update], wrk -t $THREADS -c $CONNECTIONS -d ${DURATION}s, $(date -u +%F)"
python3 - "$RESULTS" "$SIZES" "$PG_CMD" <<'EOF'
import sys
path, sizes, pg_cmd = sys.argv[1], sys.argv[2].split(), sys.argv[3]
rows = [line.rstrip("\n").split("\t") for line in open(path) if line.strip()]
def table(backend, title, cell):
    """One row per phase, one column per size, `cell` of each run."""
    print(f"\n{title}\n")
    print("| phase | " + " | ".join(f"{int(s):,} hosts" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for phase in dict.fromkeys(r[2] for r in rows if r[0] == backend):
        runs = [next((r for r in rows if r[0] == backend and r[1] == s and r[2] == phase), None)
                for s in sizes]
        print(f"| {phase} | " + " | ".join(cell(r) if r else "" for r in runs) + " |")

def cpu(backend, r):
    """dyn53 + PostgreSQL + Redis + the rest = the machine (the rest: wrk, the DNS node,
    the neighbours); on SQLite, dyn53 + the rest."""
    web, pg, redis, machine = (int(x) for x in r[6:10])
    servers = [web, pg, redis] if backend == "postgres" else [web]
    return " + ".join(map(str, servers + [machine - sum(servers)])) + f" = {machine}"

for backend in dict.fromkeys(r[0] for r in rows):
    name = "embedded (`serve`, SQLite)" if backend == "sqlite" else f"`{pg_cmd}` (PostgreSQL)"
    table(backend, name, lambda r: f"{int(r[3]):,} ({r[4]} / {r[5]}) [{r[6]}]")
    parts = "dyn53 + PostgreSQL + Redis" if backend == "postgres" else "dyn53"
    table(backend, f"CPU µs per update: {parts} + the rest = the machine",
          lambda r: cpu(backend, r))
EOF
echo
cat "$WORK/memory.txt"
[ -z "$FAILED" ] || die "some checks failed (see above)"
