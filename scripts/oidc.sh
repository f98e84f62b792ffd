#!/usr/bin/env bash
# A real OIDC provider (the npm package oidc-provider, scripts/oidc/) for the [oidc] tests.
#
#   scripts/oidc.sh start WORKDIR PORT
#       installs oidc-provider (npm ci into scripts/oidc/node_modules, once) and serves three
#       issuers on 127.0.0.1:PORT: http://127.0.0.1:PORT/a, .../b, .../rot (trusted by the tests)
#       and .../untrusted, with client-credentials clients whose access tokens are RS256 or
#       ES256 JWTs. Waits until it answers; writes WORKDIR/oidc.env (issuers, audiences, client
#       ids and secrets, the admin token for key rotation; see scripts/oidc/provider.mjs). Pid in
#       WORKDIR/oidc.pid, log in WORKDIR/oidc.log. Keys and secrets are kept in
#       WORKDIR/state.json: a restart in the same WORKDIR keeps them.
#   scripts/oidc.sh stop WORKDIR
#       TERM the pid in WORKDIR/oidc.pid, wait for it (KILL after 10 s).
#   scripts/oidc.sh install
#       only the npm install.
#
# Key rotation while it runs: POST http://127.0.0.1:PORT/admin/rotate?issuer=rot with
# `Authorization: Bearer $OIDC_ADMIN_TOKEN`.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PKG="$REPO/scripts/oidc"

die() { echo "oidc.sh: $*" >&2; exit 1; }
usage() { sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

install() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
        else
            die "node and npm are needed (apt-get install nodejs npm)"
        fi
    fi
    # npm ci only when the installed tree is not the locked one.
    if ! cmp -s "$PKG/package-lock.json" "$PKG/node_modules/.package-lock.json.installed" 2>/dev/null; then
        (cd "$PKG" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed in $PKG"
        cp "$PKG/package-lock.json" "$PKG/node_modules/.package-lock.json.installed"
    fi
}

alive() {  # alive PID: the pid runs and is our provider (guards against a recycled pid)
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q provider.mjs
}

cmd_start() {
    [ $# -eq 2 ] || usage
    local work port pid
    mkdir -p "$1"
    chmod 700 "$1"
    work="$(cd "$1" && pwd)"
    port="$2"
    if [ -f "$work/oidc.pid" ] && alive "$(cat "$work/oidc.pid")"; then
        die "already running in $work (pid $(cat "$work/oidc.pid"))"
    fi
    if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
        die "something already answers on 127.0.0.1:$port"
    fi
    install
    rm -f "$work/oidc.env" "$work/oidc.pid"
    # setsid: not in the caller's process group, so a terminal ^C reaches only the caller,
    # whose trap stops the provider by pid.
    (cd "$PKG" && exec setsid node provider.mjs "$work" "$port") >>"$work/oidc.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$work/oidc.pid"
    local deadline=$((SECONDS + 30))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if [ -f "$work/oidc.env" ] && curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$port/a/.well-known/openid-configuration"; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -TERM "$pid" 2>/dev/null || true
    rm -f "$work/oidc.pid"
    tail -n 30 "$work/oidc.log" >&2
    die "the OIDC provider did not come up on 127.0.0.1:$port (log: $work/oidc.log)"
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    local work="$1" pid
    [ -f "$work/oidc.pid" ] || return 0
    pid="$(cat "$work/oidc.pid")"
    if alive "$pid"; then
        kill -TERM "$pid"
        for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.2; done
        alive "$pid" && kill -KILL "$pid"
    fi
    rm -f "$work/oidc.pid"
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    install) install ;;
    *) usage ;;
esac
