# Sourced by the bench scripts (after they set ROOT and die): logging, the release build,
# free ports.

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# Builds dyn53 in release mode, with any further cargo targets given (e.g. --example X);
# sets TARGET (cargo's target directory) and BIN (the dyn53 binary). With DYN53_BIN set
# (another build, e.g. an older commit's for a before/after table), that binary is used.
build_release() {
    if [ -n "${DYN53_BIN:-}" ] && [ $# -eq 0 ]; then
        BIN=$DYN53_BIN
        log "using $BIN"
        return
    fi
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet --bin dyn53 "$@")
    TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    BIN=$TARGET/release/dyn53
    [ -x "$BIN" ] || die "no $BIN after the build"
}

# A TCP port on 127.0.0.1 that nobody listens on right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
