#!/usr/bin/env bash
# The whole test suite: unit tests, HTTP tests on SQLite, PostgreSQL and MariaDB, and the real
# python-barbicanclient (library and CLI) against a dev server. Installs what it needs first.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"
start=$(date +%s)

bash scripts/deps.sh
bash scripts/pyvenv.sh
VENV="$(bash scripts/pyvenv.sh --print-path)"
# The OpenStack venv: prometheus_client and pycadf for tests/it/observability.rs (and Keystone,
# the openstack CLI and tempest below). The HTTP tests must not skip for want of it.
export PORTCULLIS_TEST_OS_VENV="$(bash scripts/pyvenv.sh --print-path scripts/requirements-openstack.txt)"
export PORTCULLIS_REQUIRE_OS_VENV=1

DB="portcullis_t$$"
# sslmode=disable: loopback needs no TLS, and libpq+OpenSSL can crash a test process at exit
# while server threads still hold connections (seen once as SIGSEGV after all tests passed).
PG_URL="postgresql://portcullis_test:portcullis_test@127.0.0.1:5432/$DB?sslmode=disable"
MY_URL="mysql://portcullis_test:portcullis_test@127.0.0.1:3306/$DB"
SERVER_PID=""
KS_STARTED=""
OIDC_STARTED=""
WORK="$(mktemp -d)"
cleanup() {
    [ -n "$KS_STARTED" ] && bash scripts/keystone.sh stop "$WORK/keystone" >/dev/null 2>&1 || true
    [ -n "$OIDC_STARTED" ] && bash scripts/oidc.sh stop "$WORK/oidc" >/dev/null 2>&1 || true
    [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null || true
    for d in "$DB" "${DB}_bpg"; do
        PGPASSWORD=portcullis_test psql -q -X -h 127.0.0.1 -U portcullis_test -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true
    done
    for d in "$DB" "${DB}_bmy"; do
        mariadb -h 127.0.0.1 -u portcullis_test -pportcullis_test -e "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
PGPASSWORD=portcullis_test psql -q -X -h 127.0.0.1 -U portcullis_test -d postgres -c "CREATE DATABASE $DB"
mariadb -h 127.0.0.1 -u portcullis_test -pportcullis_test -e "CREATE DATABASE $DB CHARACTER SET utf8mb4"

echo "== build"
cargo build --locked --all-targets

# Four integration binaries, each selected by target: tests/it (the HTTP suites, on every
# backend), tests/tpm (their own swtpm instances and SQLite databases: run once),
# tests/keystone (a real Keystone, below) and tests/oidc (a real OIDC provider, below).
echo "== unit tests, HTTP tests (SQLite) and TPM tests (swtpm)"
cargo test --locked --lib --bins --test it --test tpm
echo "== HTTP tests: PostgreSQL ($DB)"
PORTCULLIS_TEST_DATABASE_URL="$PG_URL" cargo test --locked --test it
echo "== HTTP tests: MariaDB ($DB)"
PORTCULLIS_TEST_DATABASE_URL="$MY_URL" cargo test --locked --test it

echo "== python-barbicanclient against the dev server"
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
( cd "$WORK" && exec "$REPO/target/debug/portcullis" serve --dev --listen "127.0.0.1:$PORT" ) >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/healthcheck" >/dev/null && break; sleep 0.2; done
PORTCULLIS_URL="http://127.0.0.1:$PORT" "$VENV/bin/python" tests/clients/barbicanclient_noauth.py
kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || { echo "dev server did not exit cleanly on SIGTERM" >&2; exit 1; }
SERVER_PID=""
if grep -q 'cli payload\|later payload\|raw payload' "$WORK/server.log"; then
    echo "payload material found in the server log" >&2; exit 1
fi

echo "== Kubernetes KMS v2: the grpcio client against [kms_v2] backed by a managed key"
bash tests/clients/kms_v2_e2e.sh "$REPO/target/debug/portcullis" "$PORTCULLIS_TEST_OS_VENV/bin/python"

echo "== Keystone (PyPI) for the token, CLI and tempest tests"
KS_WORK="$WORK/keystone"
KS_PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
bash scripts/keystone.sh start "$KS_WORK" "$KS_PORT"
KS_STARTED=1
bash scripts/keystone.sh setup "$KS_WORK" "$KS_PORT" "http://127.0.0.1:9311" >/dev/null
PORTCULLIS_REQUIRE_KEYSTONE=1 PORTCULLIS_TEST_KEYSTONE_ENV="$KS_WORK/users.env" \
    cargo test --locked --test keystone

echo "== OIDC workload tokens against a real provider (oidc-provider from npm)"
OIDC_PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
bash scripts/oidc.sh start "$WORK/oidc" "$OIDC_PORT"
OIDC_STARTED=1
PORTCULLIS_REQUIRE_OIDC=1 PORTCULLIS_TEST_OIDC_ENV="$WORK/oidc/oidc.env" \
    cargo test --locked --test oidc
bash scripts/oidc.sh stop "$WORK/oidc"
OIDC_STARTED=""

echo "== openstack CLI over https (rustls, a test CA) against Portcullis behind Keystone"
bash tests/clients/openstack_https.sh "$KS_WORK" "$REPO/target/debug/portcullis"

echo "== openstack CLI and barbican-tempest-plugin against Portcullis behind Keystone"
RUN_OPENSTACK_CLI=1 RUN_CASTELLAN=1 ENABLE_MULTIPLE_SECRET_STORES=true POLICY_MODE=new \
    KEYSTONE_WORKDIR="$KS_WORK" PORTCULLIS_BIN="$REPO/target/debug/portcullis" \
    TEMPEST_WORKDIR="$WORK/tempest" bash tempest-compat/run.sh

echo "== barbican-tempest-plugin with the legacy policy"
POLICY_MODE=legacy EXPECTED_PASS="$REPO/tempest-compat/expected-pass-legacy.txt" \
    KEYSTONE_WORKDIR="$KS_WORK" PORTCULLIS_BIN="$REPO/target/debug/portcullis" \
    TEMPEST_WORKDIR="$WORK/tempest-legacy" bash tempest-compat/run.sh

echo "== devstack plugin: shellcheck, then its functions against a Keystone of its own and MariaDB"
bash tests/devstack/run.sh "$REPO/target/debug/portcullis"

echo "== portcullis import barbican: a real Barbican 23 (simple_crypto) on SQLite, PostgreSQL, MariaDB"
# Last: it points the Keystone catalog's key-manager endpoint at its own ports.
PGPASSWORD=portcullis_test psql -q -X -h 127.0.0.1 -U portcullis_test -d postgres -c "CREATE DATABASE ${DB}_bpg"
mariadb -h 127.0.0.1 -u portcullis_test -pportcullis_test -e "CREATE DATABASE ${DB}_bmy CHARACTER SET utf8mb4"
PORTCULLIS_LOG=error bash tests/clients/barbican_import.sh "$KS_WORK" "$KS_PORT" "$REPO/target/debug/portcullis" sqlite \
    "postgresql+psycopg2://portcullis_test:portcullis_test@127.0.0.1:5432/${DB}_bpg" \
    "mysql+pymysql://portcullis_test:portcullis_test@127.0.0.1:3306/${DB}_bmy?charset=utf8"

echo "== all tests passed in $(( $(date +%s) - start ))s"
