#!/usr/bin/env bash
# A real Barbican API (PyPI barbican, pinned in scripts/requirements-barbican.txt, own venv) with
# the simple_crypto plugin, behind the test Keystone, for the import end-to-end test.
#
#   scripts/barbican.sh start WORKDIR PORT KEYSTONE_PORT DB_URL [KEK]
#       writes WORKDIR/barbican.conf (host_href http://127.0.0.1:PORT, [database] connection =
#       DB_URL in SQLAlchemy form, [simple_crypto_plugin] kek = KEK or a new Fernet key, Keystone
#       token validation as the service user of scripts/keystone.sh setup) and a paste file,
#       creates the tables (barbican-manage db upgrade), starts gunicorn on 127.0.0.1:PORT and
#       waits until it answers. Pid in WORKDIR/barbican.pid, log in WORKDIR/barbican.log.
#   scripts/barbican.sh stop WORKDIR
#
# oslo.config finds WORKDIR/barbican.conf through HOME=WORKDIR (Barbican parses its
# configuration at import time, from the default search path only).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
die() { echo "barbican.sh: $*" >&2; exit 1; }
usage() { sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q gunicorn; }

cmd_start() {
    [ $# -ge 4 ] || usage
    mkdir -p "$1"
    local work port ksport db kek venv
    work="$(cd "$1" && pwd)"; port="$2"; ksport="$3"; db="$4"; kek="${5:-}"
    venv="$(bash "$REPO/scripts/pyvenv.sh" --print-path "$REPO/scripts/requirements-barbican.txt")"
    if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
        die "something already answers on 127.0.0.1:$port"
    fi
    [ -n "$kek" ] || kek="$("$venv/bin/python" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
    umask 077
    cat >"$work/barbican.conf" <<EOF
[DEFAULT]
host_href = http://127.0.0.1:$port
debug = false
use_stderr = true

[database]
connection = $db

[queue]
enable = false

[secretstore]
enabled_secretstore_plugins = store_crypto
enable_multiple_secret_stores = false

[crypto]
enabled_crypto_plugins = simple_crypto

[simple_crypto_plugin]
kek = $kek

[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:$ksport/v3
auth_url = http://127.0.0.1:$ksport/v3
auth_type = password
username = portcullis
password = portcullis-pass
project_name = service
user_domain_id = default
project_domain_id = default
token_cache_time = 600

[oslo_policy]
enforce_new_defaults = true
enforce_scope = true
EOF
    sed -e "s#/etc/barbican/#$work/#g" "$venv/etc/barbican/barbican-api-paste.ini" >"$work/barbican-api-paste.ini"
    # psycopg2 would send Barbican's base64 bytes as bytea literals into TEXT columns (see the
    # design notes); send them as text, as PyMySQL and sqlite3 do.
    cat >"$work/barbican_wsgi.py" <<EOF
import psycopg2.extensions
psycopg2.extensions.register_adapter(bytes, lambda b: psycopg2.extensions.QuotedString(b.decode("ascii")))
from paste import deploy
application = deploy.loadapp("config:$work/barbican-api-paste.ini")
EOF
    cat >"$work/manage.py" <<EOF
import sys
import psycopg2.extensions
psycopg2.extensions.register_adapter(bytes, lambda b: psycopg2.extensions.QuotedString(b.decode("ascii")))
from barbican.cmd import barbican_manage
sys.argv = ["barbican-manage", "db", "upgrade"]
barbican_manage.main()
EOF
    (cd "$work" && HOME="$work" "$venv/bin/python" manage.py >"$work/manage.log" 2>&1) || { tail -20 "$work/manage.log" >&2; die "db upgrade failed"; }
    (cd "$work" && HOME="$work" PYTHONPATH="$work" exec "$venv/bin/gunicorn" --workers 1 --worker-class sync \
        --bind "127.0.0.1:$port" --timeout 120 barbican_wsgi:application >"$work/barbican.log" 2>&1) &
    echo $! >"$work/barbican.pid"
    for _ in $(seq 1 120); do
        if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
            echo "barbican on http://127.0.0.1:$port (pid $(cat "$work/barbican.pid"))"
            return 0
        fi
        alive "$(cat "$work/barbican.pid")" || { tail -30 "$work/barbican.log" >&2; die "gunicorn exited"; }
        sleep 0.5
    done
    tail -30 "$work/barbican.log" >&2
    die "Barbican did not answer on port $port"
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    local pid
    pid="$(cat "$1/barbican.pid" 2>/dev/null || true)"
    alive "$pid" || return 0
    kill -TERM "$pid"
    for _ in $(seq 1 40); do alive "$pid" || return 0; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
}

[ $# -ge 1 ] || usage
sub="$1"; shift
case "$sub" in
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    *) usage ;;
esac
