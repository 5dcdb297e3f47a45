#!/usr/bin/env bash
# The console's account search and pages on N (100,000) accounts in PostgreSQL, each with
# an owner (e-mail and login ID) and a host (name, IPv4, IPv6): the median and worst of 5
# loads per page, as a staff member's browser gets them. Target: under 100 ms a page.
# See bench/README.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "console-accounts: $*" >&2; exit 1; }
. "$ROOT/bench/common.sh"

N=${N:-100000}
PG=${DYN53_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
command -v python3 >/dev/null || die "needs python3"
command -v psql >/dev/null || die "needs psql"
build_release

work=$(mktemp -d)
db=dyn53_bench_console_$$
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

psql "$PG/postgres" -qc "CREATE DATABASE $db"
port=$(free_port)
export DYN53_DATA_DIR=$work DYN53_DATABASE_URL=$PG/$db DYN53_HTTP_ADDR=127.0.0.1:$port \
    DYN53_DNS_ADDR=127.0.0.1:$(free_port) DYN53_MINIUPDATE_ADDR=off DYN53_ZONES=dyn.test \
    RUST_LOG=warn
echo 'the staff phrase' | "$BIN" user add staff@example.net --staff --password-stdin >/dev/null
# The server makes the zone from DYN53_ZONES when it starts; the rows go in after.
"$BIN" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done
log "inserting $N accounts, users and hosts"
psql "$DYN53_DATABASE_URL" -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO accounts (plan, status, created_at)
    SELECT 'free', 'active', now() FROM generate_series(1, $N);
INSERT INTO users (account_id, email, login, password_hash, role, staff, created_at, email_verified_at)
    SELECT id, 'user' || id || '@example.com', 'login' || id, 'x', 'owner', false, now(), now()
    FROM accounts WHERE id > 1;
INSERT INTO hosts (zone_id, account_id, name, kind, ipv4, ipv6, mx_preference, txt, wildcard, offline, created_at)
    SELECT (SELECT id FROM zones LIMIT 1), id, 'h' || id || '.dyn.test', 'address',
        '10.' || (id / 65536) || '.' || ((id / 256) % 256) || '.' || (id % 256),
        '2001:db8::' || (id / 65536 + 1) || ':' || to_hex(id % 65536), 10, '[]', false, false, now()
    FROM accounts WHERE id > 1;
ANALYZE;
SQL
mid=$((N / 2 + 7))
PYTHONPATH="$ROOT/bench" python3 - "http://127.0.0.1:$port" "$mid" <<'PY'
import re, sys
from console_browser import median, signed_in, timed
base, mid = sys.argv[1], int(sys.argv[2])
browser = signed_in(base)
ip4 = f"10.{mid // 65536}.{mid // 256 % 256}.{mid % 256}"
ip6 = f"2001:db8::{mid // 65536 + 1}:{mid % 65536:x}"
pages = ["/admin/accounts", f"/admin/accounts?after={mid}", f"/admin/accounts?q=user{mid}@example.com",
         f"/admin/accounts?q=login{mid}", f"/admin/accounts?q=h{mid}.dyn.test", f"/admin/accounts?q={ip4}",
         f"/admin/accounts?q={ip6}", "/admin/accounts?q=nobody@example.com", f"/admin/accounts/{mid}"]
browser.open(base + pages[0]).read()  # the pool's first connections
for page in pages:
    status, body, times = timed(browser, base + page)
    found = len(re.findall(r'href="/admin/accounts/\d+"', body.decode()))
    print(f"{page:48} {status} accounts listed {found:3}  median {median(times):6.1f} ms  worst {max(times):6.1f} ms")
PY
