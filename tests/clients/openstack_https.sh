#!/usr/bin/env bash
# The real `openstack` CLI over https (issue 11 §2): Portcullis serves TLS with a test CA made
# here with the openssl CLI, behind a real Keystone whose catalog points at the https endpoint.
#
#   tests/clients/openstack_https.sh KEYSTONE_WORKDIR PORTCULLIS_BIN
#
# KEYSTONE_WORKDIR: a Keystone run by `scripts/keystone.sh start` (this script re-runs
# `keystone.sh setup` with the https URL; run it again with another URL afterwards if needed).
# Prints each failure and last "N passed, M failed"; exits 1 when anything failed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KSW="$(cd "${1:?usage: $0 KEYSTONE_WORKDIR PORTCULLIS_BIN}" && pwd)"
BIN="${2:?usage: $0 KEYSTONE_WORKDIR PORTCULLIS_BIN}"
OSV="$(bash "$REPO/scripts/pyvenv.sh" --print-path "$REPO/scripts/requirements-openstack.txt")"
TMP="$(mktemp -d)"
PC_PID=""
cleanup() {
    [ -n "$PC_PID" ] && kill -TERM "$PC_PID" 2>/dev/null && wait "$PC_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }

# --- test CA and server certificate (localhost and 127.0.0.1)
cd "$TMP"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days 2 -subj "/CN=Portcullis https test CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr \
    -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >srv.ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 \
    -extfile srv.ext 2>/dev/null

KS_PORT="$(sed -n 's#^public_endpoint = http://127.0.0.1:\([0-9]*\).*#\1#p' "$KSW/keystone.conf")"
PORT="$("$OSV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
URL="https://127.0.0.1:$PORT"
bash "$REPO/scripts/keystone.sh" setup "$KSW" "$KS_PORT" "$URL" >/dev/null
# shellcheck disable=SC1091
. "$KSW/users.env"

(umask 077 && printf '1:%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" >dev-master.kek)
cat >portcullis.toml <<TOML
[DEFAULT]
host_href = "$URL"
sql_connection = "sqlite://$TMP/portcullis.db"
[auth]
strategy = "keystone"
[kek]
provider = "file"
file_path = "$TMP/dev-master.kek"
[keystone_authtoken]
auth_url = "$KS_AUTH_URL"
username = "$KS_SERVICE_USER"
password = "$KS_SERVICE_PASSWORD"
project_name = "$KS_SERVICE_PROJECT"
[ssl]
cert_file = "$TMP/srv.pem"
key_file = "$TMP/srv.key"
TOML
"$BIN" serve --config portcullis.toml --listen "127.0.0.1:$PORT" >portcullis.log 2>&1 &
PC_PID=$!
for _ in $(seq 1 100); do curl -s -o /dev/null --cacert ca.pem "$URL/" && break; sleep 0.2; done

os() {
    env -u OS_TOKEN -u OS_CLOUD -u OS_CACERT \
        OS_AUTH_TYPE=password OS_AUTH_URL="$KS_AUTH_URL" OS_IDENTITY_API_VERSION=3 \
        OS_USERNAME=a-member OS_PASSWORD="$KS_USER_PASSWORD" OS_PROJECT_NAME=proj-a \
        OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
        OS_REGION_NAME="$KS_REGION" OS_INTERFACE=public \
        "$OSV/bin/openstack" "$@" 2>"$TMP/err"
}

PAYLOAD="over-https-$$-$RANDOM"
rc=0; HREF="$(os --os-cacert "$TMP/ca.pem" secret store --name https-$$ --payload "$PAYLOAD" \
    -f value -c 'Secret href')" || rc=$?
if [ "$rc" = 0 ] && [ "${HREF#"$URL"/v1/secrets/}" != "$HREF" ]; then ok
else fail "secret store over https (exit $rc, href '$HREF'): $(tail -n 3 "$TMP/err")"; fi

rc=0; got="$(os --os-cacert "$TMP/ca.pem" secret get "$HREF" --payload -f value -c Payload)" || rc=$?
if [ "$rc" = 0 ] && [ "$got" = "$PAYLOAD" ]; then ok
else fail "secret get --payload over https (exit $rc, got '$got'): $(tail -n 3 "$TMP/err")"; fi

# Without the test CA the CLI must refuse the server's certificate.
rc=0; os secret list -f value >/dev/null || rc=$?
if [ "$rc" != 0 ] && grep -qiE 'certificate|ssl' "$TMP/err"; then ok
else fail "secret list without --os-cacert (exit $rc) was not refused for the certificate: $(tail -n 3 "$TMP/err")"; fi

if grep -q "$PAYLOAD" portcullis.log; then fail "payload in the server log"; else ok; fi

echo "openstack CLI over https:"
echo "https: $PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
