#!/usr/bin/env bash
# The password path under attack: N (100) parallel bogus /reset and /join posts and N wrong
# sign-ins, then all three at once, against a release `dyn53 serve`; prints the answers, the
# server's peak resident memory over its idle figure, and whether /healthz kept answering.
# See bench/README.md.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "password-attack: $*" >&2; exit 1; }
. "$ROOT/bench/common.sh"

N=${N:-100}
command -v python3 >/dev/null || die "needs python3"
build_release

work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
export DYN53_DATA_DIR=$work DYN53_HTTP_ADDR=127.0.0.1:$port DYN53_DNS_ADDR=127.0.0.1:$(free_port) \
    DYN53_MINIUPDATE_ADDR=off DYN53_TRUSTED_PROXIES=127.0.0.1/32 RUST_LOG=warn
echo 'the owner phrase' | "$BIN" user add owner@example.com --password-stdin >/dev/null
"$BIN" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || die "the server did not start: $(cat "$work/server.log")"
log "dyn53 serve (pid $server) on 127.0.0.1:$port, $(nproc) cores"
python3 "$ROOT/bench/password-attack.py" 127.0.0.1 "$port" "$server" "$N"
