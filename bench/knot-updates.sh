#!/usr/bin/env bash
# bench/knot-updates.sh — the reference for changing updates: how many RFC 2136 updates per
# second Knot DNS applies on this machine (issue 3 sets dyn53's target from it).
#
# Starts knotd (all files in a temp dir, a free port on 127.0.0.1, journal on disk in its
# default robust mode, the zone file never rewritten) with a zone of $HOSTS A records and
# dynamic updates allowed from 127.0.0.1, then sends updates with bench/knot-updates.py
# ($CONCURRENCY in flight, each replacing one host's A record) for $DURATION s.
#
# Usage:   bench/knot-updates.sh
# Env:     HOSTS=10000 DURATION=15 CONCURRENCY=64 KEEP=1
# Needs:   knot (apt-get install -y knot), python3 with dnspython (pip install dnspython).
set -euo pipefail

HOSTS=${HOSTS:-10000}
DURATION=${DURATION:-15}
CONCURRENCY=${CONCURRENCY:-64}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PATH=$PATH:/usr/sbin:/sbin

die() { echo "knot-updates: $*" >&2; exit 1; }
source "$ROOT/bench/common.sh"
command -v knotd >/dev/null || die "knotd is not installed (apt-get install -y knot)"
python3 -c "import dns.update" 2>/dev/null || die "dnspython is missing (pip install dnspython)"

WORK=$(mktemp -d /tmp/dyn53-knot-bench.XXXXXX)
KNOT_PID=
cleanup() {
    [[ -n $KNOT_PID ]] && kill "$KNOT_PID" 2>/dev/null && wait "$KNOT_PID" 2>/dev/null || true
    if [[ -n ${KEEP:-} ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

PORT=$(free_port)
{
    echo '$ORIGIN bench.test.'
    echo '$TTL 60'
    echo '@ SOA ns1 hostmaster 1 3600 600 86400 60'
    echo '@ NS ns1'
    echo 'ns1 A 192.0.2.53'
    python3 -c "
for i in range($HOSTS): print(f'h{i} A 192.0.2.1')"
} > "$WORK/bench.test.zone"
cat > "$WORK/knot.conf" <<CONF
server:
    rundir: "$WORK"
    listen: 127.0.0.1@$PORT
database:
    storage: "$WORK"
acl:
  - id: local_update
    address: 127.0.0.1
    action: update
template:
  - id: default
    storage: "$WORK"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
zone:
  - domain: bench.test
    file: bench.test.zone
    acl: local_update
CONF
knotd -c "$WORK/knot.conf" >"$WORK/knot.log" 2>&1 &
KNOT_PID=$!
for _ in $(seq 100); do
    dig +short +time=1 +tries=1 -p "$PORT" @127.0.0.1 h1.bench.test A 2>/dev/null | grep -q . && break
    sleep 0.1
done
echo "knotd $(knotd --version | awk '{print $NF}'), $HOSTS hosts, $CONCURRENCY in flight, $DURATION s"
python3 "$ROOT/bench/knot-updates.py" --server "127.0.0.1:$PORT" --zone bench.test \
    --hosts "$HOSTS" --seconds "$DURATION" --concurrency "$CONCURRENCY"
echo "knotd CPU seconds: $(awk '{print ($14 + $15) / 100}' "/proc/$KNOT_PID/stat")"
