#!/usr/bin/env bash
# The devstack plugin, checked without a devstack: shellcheck, then its functions run in
# devstack's order against a real Keystone (started here, its own) and the test MariaDB, with
# devstack's helpers stubbed (tests/devstack/stubs.sh); Portcullis is started from the config the
# plugin wrote and used through the Keystone catalog with the openstack CLI.
#
#   tests/devstack/run.sh PORTCULLIS_BIN
#
# Not run here (needs a devstack): install_portcullis's cargo build --release and apt packages,
# systemd units (run_process), the swtpm and tpm KEK providers (the file provider is used).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
shellcheck -x "$REPO/devstack/plugin.sh" "$REPO/devstack/settings" "$REPO/tests/devstack/stubs.sh" "$REPO/tests/devstack/run.sh"
echo "shellcheck: clean"

OSV="$(bash "$REPO/scripts/pyvenv.sh" --print-path "$REPO/scripts/requirements-openstack.txt")"
WORK="$(mktemp -d)"
MY_HOST=127.0.0.1 MY_PORT=3306 MY_USER=portcullis_test MY_PASS=portcullis_test
DB="portcullis_tdevstack$$"
port() { "$OSV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KS_PORT=$(port)
cleanup() {
    if [ -f "$WORK/portcullis.pid" ]; then kill -TERM "$(cat "$WORK/portcullis.pid")" 2>/dev/null || true; fi
    bash "$REPO/scripts/keystone.sh" stop "$WORK/keystone" >/dev/null 2>&1 || true
    mariadb -h "$MY_HOST" -u "$MY_USER" -p"$MY_PASS" -e "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
bash "$REPO/scripts/keystone.sh" start "$WORK/keystone" "$KS_PORT" >/dev/null
KS_AUTH_URL="http://127.0.0.1:$KS_PORT/v3"

export OSV WORK KS_AUTH_URL MY_HOST MY_PORT MY_USER MY_PASS
# shellcheck source=tests/devstack/stubs.sh
. "$REPO/tests/devstack/stubs.sh"
PORTCULLIS_DIR=$REPO PORTCULLIS_BUILD=False PORTCULLIS_BIN=$BIN PORTCULLIS_KEK_PROVIDER=file
PORTCULLIS_CONF_DIR=$WORK/etc PORTCULLIS_DB_NAME=$DB PORTCULLIS_SERVICE_PORT=$(port)
PORTCULLIS_ENFORCE_NEW_DEFAULTS=True
# shellcheck source=devstack/settings
. "$REPO/devstack/settings"
is_service_enabled portcullis || { echo "settings did not enable portcullis" >&2; exit 1; }

PASSED=0
check() {  # check DESCRIPTION COMMAND...: the command must succeed
    local what="$1"; shift
    if "$@"; then PASSED=$((PASSED + 1)); else echo "FAIL: $what" >&2; exit 1; fi
}

for phase in "stack install" "stack post-config" "stack extra"; do
    # shellcheck disable=SC2086
    set -- $phase
    # shellcheck source=devstack/plugin.sh
    . "$REPO/devstack/plugin.sh"
done
URL="http://127.0.0.1:$PORTCULLIS_SERVICE_PORT"

check "config is private" test "$(stat -c %a "$PORTCULLIS_CONF")" = 600
check "config names the devstack database without SQLAlchemy options" \
    grep -q "^sql_connection = \"mysql+pymysql://$MY_USER:$MY_PASS@$MY_HOST:$MY_PORT/$DB\"$" "$PORTCULLIS_CONF"
# Registration is idempotent: a second run adds nothing.
create_portcullis_accounts >/dev/null
eps=$(_os endpoint list --service key-manager -f value -c URL)
check "one key-manager endpoint, at Portcullis ($eps)" test "$eps" = "$URL"
check "legacy roles exist" _os role show creator -f value -c name
deep=$(curl -s "$URL/healthcheck?deep")
check "deep healthcheck: database, KEK and the service user's Keystone login ($deep)" \
    "$OSV/bin/python" -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if d["status"]=="ok" and d["checks"]["keystone"]["detail"]=="reachable" else 1)' "$deep"

# A project member uses it through the catalog, as any devstack client would.
get_or_create_project demo Default >/dev/null
get_or_create_user demo demo-pass Default >/dev/null
get_or_add_user_project_role member demo demo
demo() {
    env -u OS_CLOUD OS_AUTH_TYPE=password OS_AUTH_URL="$KS_AUTH_URL" OS_IDENTITY_API_VERSION=3 \
        OS_USERNAME=demo OS_PASSWORD=demo-pass OS_PROJECT_NAME=demo OS_USER_DOMAIN_NAME=Default \
        OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME=RegionOne "$OSV/bin/openstack" "$@"
}
href=$(demo secret store --name devstack-check --payload devstack-payload -f value -c 'Secret href')
check "secret stored under the endpoint ($href)" test "${href%/*}" = "$URL/v1/secrets"
check "payload read back" test "$(demo secret get --payload -f value -c Payload "$href")" = devstack-payload

set -- unstack
# shellcheck source=devstack/plugin.sh
. "$REPO/devstack/plugin.sh"
check "unstack stopped it" bash -c "! curl -s -o /dev/null '$URL/healthcheck'"
set -- clean
# shellcheck source=devstack/plugin.sh
. "$REPO/devstack/plugin.sh"
check "clean removed the config" test ! -e "$PORTCULLIS_CONF"
echo "devstack plugin: $PASSED checks passed"
