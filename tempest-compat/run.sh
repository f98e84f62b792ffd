#!/usr/bin/env bash
# Run the real barbican-tempest-plugin (api + rbac) against Portcullis behind a real Keystone,
# then compare with tempest-compat/expected-pass.txt.
#
#   PORTCULLIS_BIN=target/debug/portcullis tempest-compat/run.sh      (starts everything)
#   PORTCULLIS_URL=http://127.0.0.1:9311 tempest-compat/run.sh        (Portcullis already up)
#
# Keystone: started here (scripts/keystone.sh, free port, in $TEMPEST_WORKDIR/keystone) and
# stopped at exit; or, with KEYSTONE_WORKDIR=DIR, the one scripts/keystone.sh already runs there
# (left running). Either way `keystone.sh setup` is (re)run so the key-manager endpoint in the
# catalog is $PORTCULLIS_URL: tempest finds Barbican through the catalog only.
#
# Portcullis: already listening at $PORTCULLIS_URL, or started here from PORTCULLIS_BIN with a
# config written here, or by PORTCULLIS_START, a shell
# command run after Keystone is set up with the variables of keystone.sh's users.env exported
# (KS_AUTH_URL, KS_SERVICE_USER, KS_SERVICE_PASSWORD, KS_SERVICE_PROJECT, ...) and KS_WORKDIR;
# it must stay in the foreground (e.g. 'cd DIR && exec portcullis serve ...'); it runs in a
# process group of its own, which gets TERM at exit (KILL 20 s later). Its log:
# $TEMPEST_WORKDIR/portcullis.log.
#
# Env (defaults):
#   PORTCULLIS_URL                 Barbican endpoint put in the catalog (required unless
#                                  PORTCULLIS_BIN is given: then a free 127.0.0.1 port)
#   PORTCULLIS_BIN                 (unset) a portcullis binary: run.sh writes
#                                  $TEMPEST_WORKDIR/portcullis/portcullis.toml (SQLite, file
#                                  KEK, auth keystone with the portcullis service user,
#                                  [oslo_policy] enforce_* = POLICY_MODE==new) and starts it
#   PORTCULLIS_START               (unset) command that runs Portcullis in the foreground
#                                  (wins over PORTCULLIS_BIN)
#   POLICY_MODE=new                new: [enforce_scope] barbican=True (secure RBAC; rbac tests
#                                  run); legacy: False and tempest_roles=creator (rbac tests skip)
#   ENABLE_MULTIPLE_SECRET_STORES=false   [barbican_tempest] enable_multiple_secret_stores
#   KEY_MANAGER_MAX_MICROVERSION=latest   [key_manager] max_microversion (1.0 skips the
#                                  secret-consumer tests, which need 1.1)
#   KEYSTONE_WORKDIR               (unset) reuse a running scripts/keystone.sh Keystone
#   KEYSTONE_PORT                  (free port) port of the Keystone started here
#   TEMPEST_WORKDIR=<repo>/tempest-compat/work   wiped and rewritten each run
#   TEMPEST_REGEX='^barbican_tempest_plugin\.tests\.(api|rbac)\.'
#   TEMPEST_CONCURRENCY=2, TEMPEST_TIMEOUT=2400 (s, whole run), OS_TEST_TIMEOUT=300 (s, a test)
#   RUN_OPENSTACK_CLI=0            1: first run tests/clients/openstack_cli.sh against the same
#                                  Keystone and Portcullis (its failure fails this script)
#   RUN_CASTELLAN=0                1: then run tests/clients/castellan_e2e.py (Castellan's
#                                  BarbicanKeyManager) against the same Keystone and Portcullis
#                                  (its failure fails this script)
#   EXPECTED_PASS=tempest-compat/expected-pass.txt   the list of tests that must pass
#   RUN_TEMPEST=1                  0: skip tempest (e.g. RUN_OPENSTACK_CLI=1 RUN_TEMPEST=0)
# Output: per-module pass/fail/skip/not-run, totals, comparison with expected-pass.txt.
# Exit 1 when an expected test did not pass, the CLI or Castellan test failed or the machinery broke;
# unexpected passes are only reported. $TEMPEST_WORKDIR keeps tempest.conf, tempest.log, run.log, results.subunit
# and passed.txt (the ids that passed: the candidates for expected-pass.txt).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
die() { echo "tempest-compat: $*" >&2; exit 1; }

[ -n "${PORTCULLIS_URL:-}" ] || [ -n "${PORTCULLIS_BIN:-}" ] \
    || die "set PORTCULLIS_URL (e.g. http://127.0.0.1:9311) or PORTCULLIS_BIN"
POLICY_MODE="${POLICY_MODE:-new}"
case "$POLICY_MODE" in
    new) ENFORCE=True; ROLES="" ;;
    legacy) ENFORCE=False; ROLES="creator" ;;
    *) die "POLICY_MODE must be new or legacy, not '$POLICY_MODE'" ;;
esac
case "${ENABLE_MULTIPLE_SECRET_STORES:-false}" in
    true|True|1|yes) MSS=True ;;
    false|False|0|no) MSS=False ;;
    *) die "ENABLE_MULTIPLE_SECRET_STORES must be true or false" ;;
esac
WORK="${TEMPEST_WORKDIR:-$HERE/work}"
REGEX="${TEMPEST_REGEX:-^barbican_tempest_plugin\.tests\.(api|rbac)\.}"
CONC="${TEMPEST_CONCURRENCY:-2}"
MAX_MV="${KEY_MANAGER_MAX_MICROVERSION:-latest}"
export OS_TEST_TIMEOUT="${OS_TEST_TIMEOUT:-300}"

t0=$SECONDS
OSV="$(bash "$REPO/scripts/pyvenv.sh" --print-path "$REPO/scripts/requirements-openstack.txt")"
PY="$OSV/bin/python"
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
if [ -n "${PORTCULLIS_BIN:-}" ] && [ -z "${PORTCULLIS_START:-}" ]; then
    [ -x "$PORTCULLIS_BIN" ] || die "PORTCULLIS_BIN=$PORTCULLIS_BIN is not an executable"
    PORTCULLIS_BIN="$(cd "$(dirname "$PORTCULLIS_BIN")" && pwd)/$(basename "$PORTCULLIS_BIN")"
    PORTCULLIS_URL="${PORTCULLIS_URL:-http://127.0.0.1:$(free_port)}"
fi
PORTCULLIS_URL="${PORTCULLIS_URL%/}"

KS_STARTED=""
PC_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$PC_PID" ] && kill -0 -- "-$PC_PID" 2>/dev/null; then
        # PC_PID leads the process group PORTCULLIS_START runs in
        kill -TERM -- "-$PC_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 -- "-$PC_PID" 2>/dev/null || break; sleep 0.2; done
        if kill -0 -- "-$PC_PID" 2>/dev/null; then
            echo "tempest-compat: PORTCULLIS_START ignored TERM for 20 s; KILL" >&2
            kill -KILL -- "-$PC_PID" 2>/dev/null || true
        fi
    fi
    [ -n "$KS_STARTED" ] && bash "$REPO/scripts/keystone.sh" stop "$KS_STARTED" || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -rf "$WORK"
mkdir -p "$WORK/etc"

# --- Keystone
if [ -n "${KEYSTONE_WORKDIR:-}" ]; then
    KSW="$(cd "$KEYSTONE_WORKDIR" && pwd)"
    [ -f "$KSW/keystone.pid" ] && kill -0 "$(cat "$KSW/keystone.pid")" 2>/dev/null \
        || die "no Keystone runs in KEYSTONE_WORKDIR=$KSW (scripts/keystone.sh start it first)"
    KS_PORT="$(sed -n 's#^public_endpoint = http://127.0.0.1:\([0-9]*\).*#\1#p' "$KSW/keystone.conf")"
    [ -n "$KS_PORT" ] || die "cannot read Keystone's port from $KSW/keystone.conf"
else
    KSW="$WORK/keystone"
    KS_PORT="${KEYSTONE_PORT:-$(free_port)}"
    KS_STARTED="$KSW"
    bash "$REPO/scripts/keystone.sh" start "$KSW" "$KS_PORT"
fi
bash "$REPO/scripts/keystone.sh" setup "$KSW" "$KS_PORT" "$PORTCULLIS_URL"
set -a
# shellcheck disable=SC1091
. "$KSW/users.env"
set +a
export KS_WORKDIR="$KSW"
t_ks=$SECONDS

# --- Portcullis
if [ -n "${PORTCULLIS_BIN:-}" ] && [ -z "${PORTCULLIS_START:-}" ]; then
    PCW="$WORK/portcullis"
    mkdir -p "$PCW"
    pc_listen="${PORTCULLIS_URL#*://}"
    pc_listen="${pc_listen%%/*}"
    if [ "$POLICY_MODE" = new ]; then pc_new=true; else pc_new=false; fi
    cat >"$PCW/portcullis.toml" <<EOF
[DEFAULT]
host_href = "$PORTCULLIS_URL"
sql_connection = "sqlite://$PCW/portcullis.db"

[auth]
strategy = "keystone"

[kek]
provider = "file"
file_path = "$PCW/dev-master.kek"

[oslo_policy]
enforce_new_defaults = $pc_new
enforce_scope = $pc_new

[keystone_authtoken]
auth_url = "$KS_AUTH_URL"
username = "$KS_SERVICE_USER"
password = "$KS_SERVICE_PASSWORD"
project_name = "$KS_SERVICE_PROJECT"

[secretstore]
enable_multiple_secret_stores = $( [ "$MSS" = True ] && echo true || echo false )
EOF
    (umask 077 && printf '1:%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" >"$PCW/dev-master.kek")
    PORTCULLIS_START="cd '$PCW' && exec '$PORTCULLIS_BIN' serve --config portcullis.toml --listen '$pc_listen'"
fi
if [ -n "${PORTCULLIS_START:-}" ]; then
    # job control on: the job gets a process group of its own (pgid = its pid), so that
    # stopping it reaches whatever the command spawned, and a terminal ^C reaches only us
    set -m
    bash -c "$PORTCULLIS_START" >"$WORK/portcullis.log" 2>&1 </dev/null &
    PC_PID=$!
    set +m
    up=""
    for _ in $(seq 1 150); do
        if curl -s -o /dev/null --max-time 2 "$PORTCULLIS_URL/"; then up=1; break; fi
        kill -0 "$PC_PID" 2>/dev/null || break
        sleep 0.2
    done
    if [ -z "$up" ]; then
        tail -n 30 "$WORK/portcullis.log" >&2
        die "PORTCULLIS_START did not answer at $PORTCULLIS_URL within 30 s (log: $WORK/portcullis.log)"
    fi
elif ! curl -s -o /dev/null --max-time 5 "$PORTCULLIS_URL/"; then
    echo "tempest-compat: warning: nothing answers at $PORTCULLIS_URL; the tests will fail" >&2
fi

# --- the openstack CLI first (optional): same Keystone, same Portcullis
cli_rc=0
if [ "${RUN_OPENSTACK_CLI:-0}" = 1 ]; then
    echo "tempest-compat: tests/clients/openstack_cli.sh"
    bash "$REPO/tests/clients/openstack_cli.sh" "$KSW/users.env" || cli_rc=$?
fi
cas_rc=0
if [ "${RUN_CASTELLAN:-0}" = 1 ]; then
    echo "tempest-compat: tests/clients/castellan_e2e.py"
    "$PY" "$REPO/tests/clients/castellan_e2e.py" "$KSW/users.env" || cas_rc=$?
fi
if [ "${RUN_TEMPEST:-1}" != 1 ]; then
    [ "$cli_rc" = 0 ] && exit "$cas_rc"
    exit "$cli_rc"
fi

# --- tempest workspace
cat >"$WORK/etc/tempest.conf" <<EOF
[DEFAULT]
log_file = $WORK/tempest.log
use_stderr = false
debug = false

[auth]
use_dynamic_credentials = true
create_isolated_networks = false
admin_username = admin
admin_password = $KS_ADMIN_PASSWORD
admin_project_name = admin
admin_domain_name = Default
admin_system = all
default_credentials_domain_name = Default
${ROLES:+tempest_roles = $ROLES}

[identity]
uri_v3 = $KS_AUTH_URL
auth_version = v3
region = $KS_REGION
v3_endpoint_type = public

[identity-feature-enabled]
api_v2 = false

[enforce_scope]
keystone = true
barbican = $ENFORCE

[service_available]
barbican = true
nova = false
cinder = false
glance = false
neutron = false
swift = false
horizon = false

[key_manager]
catalog_type = key-manager
min_microversion = 1.0
max_microversion = $MAX_MV
region = $KS_REGION
endpoint_type = public

[barbican_tempest]
enable_multiple_secret_stores = $MSS
EOF

cd "$WORK"
TOP="$("$PY" -c 'import os, tempest; print(os.path.dirname(os.path.dirname(tempest.__file__)))')"
printf '[DEFAULT]\ntest_path=%s/tempest/test_discover\ntop_dir=%s\ngroup_regex=([^\\.]*\\.)*\n' \
    "$TOP" "$TOP" >"$WORK/.stestr.conf"
"$OSV/bin/stestr" init >/dev/null
"$OSV/bin/tempest" run --config-file "$WORK/etc/tempest.conf" --regex "$REGEX" --list-tests \
    >"$WORK/list.raw" 2>"$WORK/list.err" \
    || { cat "$WORK/list.err" >&2; die "tempest could not list the tests"; }
grep -E '^[a-z_]+\.' "$WORK/list.raw" >"$WORK/tests.txt" || true
n_tests=$(wc -l <"$WORK/tests.txt")
[ "$n_tests" -gt 0 ] || { cat "$WORK/list.raw" "$WORK/list.err" >&2; die "no test matches $REGEX"; }
echo "tempest-compat: $n_tests tests, POLICY_MODE=$POLICY_MODE, multiple stores $MSS, concurrency $CONC, Barbican $PORTCULLIS_URL"

t_run0=$SECONDS
set +e
timeout --signal=TERM --kill-after=30 "${TEMPEST_TIMEOUT:-2400}" \
    "$OSV/bin/tempest" run --config-file "$WORK/etc/tempest.conf" --regex "$REGEX" \
    --concurrency "$CONC" >"$WORK/run.log" 2>&1 </dev/null
trc=$?
set -e
t_run=$((SECONDS - t_run0))
[ "$trc" = 124 ] && echo "tempest-compat: tempest run timed out after ${TEMPEST_TIMEOUT:-2400} s" >&2

if ! "$OSV/bin/stestr" last --subunit >"$WORK/results.subunit" 2>"$WORK/stestr.err" \
        || [ ! -s "$WORK/results.subunit" ]; then
    tail -n 40 "$WORK/run.log" >&2
    die "tempest produced no results (exit $trc; log: $WORK/run.log)"
fi

set +e
"$PY" "$HERE/report.py" --subunit "$WORK/results.subunit" --list "$WORK/tests.txt" \
    --expected "${EXPECTED_PASS:-$HERE/expected-pass.txt}" --passed-out "$WORK/passed.txt"
rrc=$?
set -e
echo "tempest-compat: keystone ready in $((t_ks - t0)) s, tempest run $t_run s, total $((SECONDS - t0)) s (details: $WORK)"
[ "$cli_rc" = 0 ] || echo "tempest-compat: tests/clients/openstack_cli.sh FAILED (see above)" >&2
[ "$cas_rc" = 0 ] || echo "tempest-compat: tests/clients/castellan_e2e.py FAILED (see above)" >&2
[ "$rrc" = 0 ] && [ "$cli_rc" = 0 ] && [ "$cas_rc" = 0 ]
