#!/usr/bin/env bash
# `portcullis import barbican` against a real Barbican (scripts/barbican.sh), end to end.
#
#   tests/clients/barbican_import.sh KEYSTONE_WORKDIR KEYSTONE_PORT PORTCULLIS_BIN [DB_URL...]
#
# For each Barbican database (SQLAlchemy URLs; default one SQLite file; "sqlite" names a fresh
# file): points the Keystone catalog at a free port, runs Barbican there and makes objects through
# its API (tests/clients/barbican_import.py create), stops it; then checks that a wrong KEK fails
# before any write, that --dry-run writes nothing, imports with --verify, that a second run
# imports nothing; serves Portcullis on the same port and compares every answer
# (barbican_import.py check). Once (SQLite): a generated Barbican database of
# $IMPORT_BULK (default 10000) more secrets, imported once killed midway and then to the end,
# timed. Prints "N passed, M failed"; exits 1 on any failure.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
[ $# -ge 3 ] || { sed -n '2,14p' "$0" >&2; exit 2; }
KS_WORK="$1"; KS_PORT="$2"; PC_BIN="$3"; shift 3
DBS=("$@"); [ ${#DBS[@]} -gt 0 ] || DBS=(sqlite)
BULK="${IMPORT_BULK:-10000}"
OSV="$(bash "$REPO/scripts/pyvenv.sh" --print-path "$REPO/scripts/requirements-openstack.txt")"
BV="$(bash "$REPO/scripts/pyvenv.sh" --print-path "$REPO/scripts/requirements-barbican.txt")"
WORK="$(mktemp -d)"
PC_PID=""
cleanup() {
    [ -n "$PC_PID" ] && kill -TERM "$PC_PID" 2>/dev/null && wait "$PC_PID" 2>/dev/null || true
    bash "$REPO/scripts/barbican.sh" stop "$WORK/barbican" >/dev/null 2>&1 || true
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
PASSED=0; FAILED=0
ok() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }
freeport() { "$OSV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# pc_config DIR URL: a Portcullis config serving URL behind the test Keystone (file KEK).
pc_config() {
    mkdir -p "$1"
    (umask 077 && printf '1:%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" >"$1/dev-master.kek")
    cat >"$1/portcullis.toml" <<EOF
[DEFAULT]
host_href = "$2"
sql_connection = "sqlite://$1/portcullis.db"
[auth]
strategy = "keystone"
[kek]
provider = "file"
file_path = "$1/dev-master.kek"
[oslo_policy]
enforce_new_defaults = true
enforce_scope = true
[keystone_authtoken]
auth_url = "http://127.0.0.1:$KS_PORT/v3"
username = "portcullis"
password = "portcullis-pass"
project_name = "service"
EOF
}
count() { "$OSV/bin/python" -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('select (select count(*) from secrets)+(select count(*) from containers)+(select count(*) from orders)+(select count(*) from project_keks)').fetchone()[0])" "$1"; }
import() { "$PC_BIN" import barbican --config "$1/portcullis.toml" "${@:2}"; }

for db in "${DBS[@]}"; do
    n=$(( ${n:-0} + 1 )); W="$WORK/run$n"; mkdir -p "$W"
    [ "$db" = sqlite ] && db="sqlite:///$W/barbican.db"
    label="${db%%:*}"
    echo "-- Barbican on $label"
    PORT=$(freeport); URL="http://127.0.0.1:$PORT"
    bash "$REPO/scripts/keystone.sh" setup "$KS_WORK" "$KS_PORT" "$URL" >/dev/null
    rm -rf "$WORK/barbican"
    bash "$REPO/scripts/barbican.sh" start "$WORK/barbican" "$PORT" "$KS_PORT" "$db" >/dev/null
    "$OSV/bin/python" "$REPO/tests/clients/barbican_import.py" create "$KS_WORK/users.env" "$W/record.json"
    bash "$REPO/scripts/barbican.sh" stop "$WORK/barbican"
    cp "$WORK/barbican/barbican.conf" "$W/barbican.conf"
    pc_config "$W/pc" "$URL"
    "$PC_BIN" db upgrade --config "$W/pc/portcullis.toml" >/dev/null

    bsum=""; [[ "$db" == sqlite* ]] && bsum=$(sha256sum "$W/barbican.db")
    # A wrong KEK: a clear message, nothing written.
    wrong="$("$BV/bin/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
    sed "s#^kek = .*#kek = $wrong#" "$W/barbican.conf" >"$W/wrong.conf"
    if import "$W/pc" --barbican-conf "$W/wrong.conf" >"$W/wrong.out" 2>&1; then fail "$label: a wrong KEK imported"
    elif grep -q "does not open Barbican's project KEK" "$W/wrong.out" && [ "$(count "$W/pc/portcullis.db")" = 0 ]; then ok
    else fail "$label: wrong KEK: $(cat "$W/wrong.out")"; fi
    grep -q "$wrong" "$W/wrong.out" && fail "$label: the KEK was printed"

    # --dry-run: reads and decrypts everything, writes nothing.
    if import "$W/pc" --barbican-conf "$W/barbican.conf" --dry-run >"$W/dry.out" 2>&1 \
        && grep -q "would import" "$W/dry.out" && [ "$(count "$W/pc/portcullis.db")" = 0 ]; then ok
    else fail "$label: dry run: $(cat "$W/dry.out")"; fi

    if import "$W/pc" --barbican-conf "$W/barbican.conf" --verify >"$W/import.out" 2>&1 \
        && grep -q ", 0 differ" "$W/import.out"; then ok
    else fail "$label: import: $(cat "$W/import.out")"; fi
    cat "$W/import.out"
    # A second run changes nothing.
    before=$(count "$W/pc/portcullis.db")
    if import "$W/pc" --barbican-conf "$W/barbican.conf" >"$W/again.out" 2>&1 \
        && ! awk 'NR>1 && $(NF-3) ~ /^[0-9]+$/ && $(NF-3) != 0' "$W/again.out" | grep -q . \
        && [ "$(count "$W/pc/portcullis.db")" = "$before" ]; then ok
    else fail "$label: second run imported again: $(cat "$W/again.out")"; fi

    # The Barbican database was only read.
    if [ -n "$bsum" ]; then
        if [ "$(sha256sum "$W/barbican.db")" = "$bsum" ]; then ok; else fail "$label: the Barbican database changed"; fi
    fi

    (cd "$W/pc" && exec "$PC_BIN" serve --config portcullis.toml --listen "127.0.0.1:$PORT") >"$W/pc/server.log" 2>&1 &
    PC_PID=$!
    for _ in $(seq 1 100); do curl -sf "$URL/healthcheck" >/dev/null && break; sleep 0.2; done
    if BARBICAN_DB="$db" "$OSV/bin/python" "$REPO/tests/clients/barbican_import.py" check "$KS_WORK/users.env" "$W/record.json" >"$W/check.out" 2>&1; then ok
    else fail "$label: read back: $(cat "$W/check.out")"; fi
    tail -1 "$W/check.out"
    kill -TERM "$PC_PID"; wait "$PC_PID" 2>/dev/null || true; PC_PID=""

    if [ "$n" = 1 ] && [ "$BULK" -gt 0 ] && [[ "$db" == sqlite* ]]; then
        echo "-- $BULK generated secrets: killed midway, then resumed"
        cp "$W/barbican.db" "$W/bulk.db"
        sed "s#^connection = .*#connection = sqlite:///$W/bulk.db#" "$W/barbican.conf" >"$W/bulk.conf"
        "$BV/bin/python" "$REPO/tests/clients/barbican_bulk.py" "$W/bulk.conf" "$BULK"
        pc_config "$W/bulk" "$URL"
        "$PC_BIN" db upgrade --config "$W/bulk/portcullis.toml" >/dev/null
        "$PC_BIN" import barbican --config "$W/bulk/portcullis.toml" --barbican-conf "$W/bulk.conf" >"$W/killed.out" 2>&1 &
        kp=$!  # the importer itself, not a subshell
        for _ in $(seq 1 400); do
            [ -f "$W/bulk/portcullis.db" ] && [ "$(count "$W/bulk/portcullis.db" 2>/dev/null || echo 0)" -gt 100 ] && break
            sleep 0.05
        done
        kill -KILL "$kp" 2>/dev/null || true; wait "$kp" 2>/dev/null || true
        mid=$(count "$W/bulk/portcullis.db")
        grep -q "import done" "$W/killed.out" && fail "bulk: the import ended before it was killed"
        t0=$(date +%s.%N)
        if import "$W/bulk" --barbican-conf "$W/bulk.conf" --verify >"$W/resumed.out" 2>&1 && grep -q ", 0 differ" "$W/resumed.out"; then ok
        else fail "bulk resume: $(cat "$W/resumed.out")"; fi
        t1=$(date +%s.%N)
        cat "$W/resumed.out"
        if grep -q "secrets: 1 skipped: stored by the PKCS#11 plugin" "$W/resumed.out" \
            && grep -q "secrets: 1 skipped: stored by the KMIP plugin" "$W/resumed.out"; then ok
        else fail "bulk: the PKCS#11 and KMIP secrets are not listed as skipped"; fi
        total=$("$OSV/bin/python" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from secrets').fetchone()[0])" "$W/bulk/portcullis.db")
        want=$("$OSV/bin/python" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from secrets where name not like 'foreign %'\").fetchone()[0])" "$W/bulk.db")
        if [ "$total" = "$want" ]; then ok; else fail "bulk: $total secrets here, $want in Barbican"; fi
        echo "killed after $mid rows; resumed run (with --verify) took $(echo "$t1 - $t0" | bc) s for $want secrets"
        rm -rf "$W/bulk2"; pc_config "$W/bulk2" "$URL"; "$PC_BIN" db upgrade --config "$W/bulk2/portcullis.toml" >/dev/null
        t0=$(date +%s.%N); import "$W/bulk2" --barbican-conf "$W/bulk.conf" >/dev/null 2>&1 || fail "bulk: clean import"
        t1=$(date +%s.%N)
        echo "clean import of $want secrets: $(echo "$t1 - $t0" | bc) s"
    fi
done
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
