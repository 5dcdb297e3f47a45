#!/usr/bin/env bash
# The console's audit log (/admin/audit) on ROWS (1,000,000) audit lines and N (100,000)
# accounts in PostgreSQL: every filter staff use, the next pages, and the CSV export; the
# median and worst of RUNS (5) loads per page, as a staff member's browser gets them.
# Target: under 100 ms a page. See bench/README.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "console-audit: $*" >&2; exit 1; }
. "$ROOT/bench/common.sh"

N=${N:-100000}
ROWS=${ROWS:-1000000}
RUNS=${RUNS:-5}
PG=${DYN53_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
command -v python3 >/dev/null || die "needs python3"
command -v psql >/dev/null || die "needs psql"
command -v curl >/dev/null || die "needs curl"
build_release

work=$(mktemp -d)
db=dyn53_bench_audit_$$
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
"$BIN" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || die "the server did not start: $(cat "$work/server.log")"

# The log over the last 365 days, one line every 365 days / ROWS, ids growing with time as
# the server writes them. Accounts are drawn skewed (account 2 has ~2 % of the lines, most
# have a few); the actions as tenants, staff (5 members) and the CLI make them: mostly
# tenants' host changes (their e-mail, or an API key as `key:prefix`), few suspensions.
log "inserting $N accounts and users, $ROWS audit lines"
psql "$DYN53_DATABASE_URL" -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
INSERT INTO accounts (plan, status, created_at)
    SELECT 'free', 'active', now() FROM generate_series(1, $N);
INSERT INTO users (account_id, email, login, password_hash, role, staff, created_at, email_verified_at)
    SELECT id, 'user' || id || '@example.com', 'login' || id, 'x', 'owner', false, now(), now()
    FROM accounts WHERE id > 1;
SELECT setseed(0.53);
CREATE TEMP TABLE drawn AS
    SELECT g, random() AS r, 2 + floor(($N - 1) * random() ^ 3)::bigint AS account,
        random() AS via
    FROM generate_series(1, $ROWS) g;
CREATE TEMP TABLE lines AS
    SELECT g, account, via, CASE
        WHEN r < 0.55 THEN 'host.change'
        WHEN r < 0.65 THEN 'host.create'
        WHEN r < 0.69 THEN 'host.delete'
        WHEN r < 0.74 THEN 'key.create'
        WHEN r < 0.76 THEN 'key.revoke'
        WHEN r < 0.79 THEN 'user.create'
        WHEN r < 0.83 THEN 'password.change'
        WHEN r < 0.84 THEN 'email.change'
        WHEN r < 0.85 THEN 'user.invite'
        WHEN r < 0.86 THEN 'user.remove'
        WHEN r < 0.88 THEN 'group.upsert'
        WHEN r < 0.885 THEN 'group.delete'
        WHEN r < 0.925 THEN 'password.reset'
        WHEN r < 0.935 THEN 'account.plan'
        WHEN r < 0.938 THEN 'account.suspend'
        WHEN r < 0.940 THEN 'account.reactivate'
        WHEN r < 0.950 THEN 'account.view_as'
        WHEN r < 0.955 THEN 'host.block'
        WHEN r < 0.958 THEN 'host.unblock'
        WHEN r < 0.959 THEN 'blocklist.add'
        WHEN r < 0.9595 THEN 'blocklist.remove'
        WHEN r < 0.9596 THEN 'registration.set'
        WHEN r < 0.9597 THEN 'host.import'
        ELSE 'host.change' END AS action
    FROM drawn;
INSERT INTO audit_log (at, account_id, actor, action, detail)
    SELECT now() - interval '365 days' + g * (interval '365 days' / $ROWS),
        CASE WHEN action IN ('blocklist.add', 'blocklist.remove', 'registration.set', 'host.import')
            THEN NULL ELSE account END,
        CASE
            WHEN action IN ('account.plan', 'account.suspend', 'account.reactivate', 'account.view_as',
                'host.block', 'host.unblock', 'blocklist.add', 'blocklist.remove', 'registration.set')
                THEN CASE WHEN via < 0.1 THEN 'cli' ELSE 'staff:staff' || (1 + g % 5) || '@example.net' END
            WHEN action = 'host.import' THEN 'cli'
            WHEN action IN ('host.change', 'host.create', 'host.delete') AND via < 0.3
                THEN 'key:' || substr(md5(account::text), 1, 10)
            ELSE 'user' || account || '@example.com' END,
        action,
        CASE WHEN action LIKE 'host.%' THEN 'h' || account || '.dyn.test' ELSE '' END
    FROM lines ORDER BY g;
ANALYZE;
SQL
psql "$DYN53_DATABASE_URL" -At -F ' ' -c \
    "SELECT action, count(*) FROM audit_log GROUP BY action ORDER BY 2 DESC" | tr '\n' ';' |
    sed 's/;/; /g' | fold -s -w 100 >&2
echo >&2

PYTHONPATH="$ROOT/bench" python3 - "http://127.0.0.1:$port" "$N" "$ROWS" "$RUNS" "$server" <<'PY'
import datetime, re, sys, urllib.parse
from console_browser import median, next_link, signed_in, timed
base, n, rows, runs, server = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
browser = signed_in(base)
day = lambda ago: (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=ago)).strftime("%Y-%m-%d")
mid, quiet = rows // 2, n // 2 + 7
month = {"from": day(200), "to": day(170)}
cases = [
    ("newest", {}),
    ("deep page (before = the middle id)", {"before": mid}),
    ("actor: a tenant (busiest account's owner)", {"actor": "user2@example.com"}),
    ("actor: a staff member", {"actor": "staff:staff1@example.net"}),
    ("actor: nobody", {"actor": "nobody@example.com"}),
    ("account: the busiest", {"account": 2}),
    ("account: a quiet one", {"account": quiet}),
    ("action: host.change", {"action": "host.change"}),
    ("action: account.suspend (rare)", {"action": "account.suspend"}),
    ("action: none such", {"action": "host.nothing"}),
    ("from: last 7 days", {"from": day(7)}),
    ("to: until 6 months ago", {"to": day(182)}),
    ("from-to: a month, 6 months ago", month),
    ("from-to: a month a year ago (oldest)", {"from": day(366), "to": day(335)}),
    ("action+time: account.suspend, the month", {"action": "account.suspend", **month}),
    ("action+time: host.change, the month", {"action": "host.change", **month}),
    ("actor+action: staff, account.suspend", {"actor": "staff:staff1@example.net", "action": "account.suspend"}),
    ("actor+action: staff, host.change (none)", {"actor": "staff:staff1@example.net", "action": "host.change"}),
    ("actor+action: cli, host.change (none)", {"actor": "cli", "action": "host.change"}),
    ("actor+action: tenant, account.view_as (none)", {"actor": "user2@example.com", "action": "account.view_as"}),
    ("account+action: busiest, host.change", {"account": 2, "action": "host.change"}),
    ("account+action: busiest, account.suspend", {"account": 2, "action": "account.suspend"}),
    ("account+action: quiet, account.suspend (none)", {"account": quiet, "action": "account.suspend"}),
    ("actor+account: a staff member, the busiest", {"actor": "staff:staff1@example.net", "account": 2}),
    ("actor+action+time: staff, suspend, the month", {"actor": "staff:staff1@example.net", "action": "account.suspend", **month}),
]
browser.open(base + "/admin/audit").read()  # the pool's first connections


def rss(field="VmRSS"):
    with open(f"/proc/{server}/status") as f:
        return int(re.search(field + r":\s+(\d+)", f.read()).group(1)) // 1024


def show(name, status, lines, times):
    print(f"{name:48} {status} {lines:>9}  median {median(times):7.1f} ms  worst {max(times):7.1f} ms", flush=True)


print(f"{'page':48} {'':3} {'lines':>9}")
worst = 0
for name, query in cases:
    url = "/admin/audit?" + urllib.parse.urlencode(query)
    for page in (1, 2):
        status, body, times = timed(browser, base + url, runs)
        body = body.decode()
        show(name if page == 1 else "  next page", status, body.count("<tr>\n<td>"), times)
        worst = max(worst, median(times))
        url = next_link(body)
        if url is None:
            break
for name, query, n_runs in [
    ("CSV: account.suspend, the month", {"action": "account.suspend", **month}, runs),
    ("CSV: a staff member", {"actor": "staff:staff1@example.net"}, runs),
    ("CSV: a month, 6 months ago", month, runs),
    ("CSV: everything", {}, 1),
]:
    before = rss()
    status, body, times = timed(browser, base + "/admin/audit.csv?" + urllib.parse.urlencode(query), n_runs)
    show(name, status, body.count(b"\n") - 1, times)
    print(f"{'':48} {len(body) / 1e6:.1f} MB; server RSS {before} -> {rss()} MB, peak so far {rss('VmHWM')} MB")
print(f"slowest page median: {worst:.1f} ms (target < 100 ms)")
PY
