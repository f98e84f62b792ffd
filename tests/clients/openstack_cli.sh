#!/usr/bin/env bash
# The real `openstack` CLI (python-openstackclient + python-barbicanclient) against Portcullis
# behind a real Keystone, as proj-a's a-member, with ACLs tried by other users.
#
#   tests/clients/openstack_cli.sh WORKDIR/users.env
#
# users.env is written by `scripts/keystone.sh setup WORKDIR PORT BARBICAN_URL`: Keystone's URL,
# passwords and user ids. Barbican is found through the Keystone catalog (key-manager service),
# so the setup's BARBICAN_URL must be where Portcullis listens.
# Env: PORTCULLIS_OS_VENV (the venv of scripts/requirements-openstack.txt; made if missing)
# Prints each failure, and last "N passed, M failed"; exits 1 when anything failed.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
USERS_ENV="${1:-${KS_USERS_ENV:-}}"
[ -n "$USERS_ENV" ] && [ -f "$USERS_ENV" ] || { echo "usage: $0 WORKDIR/users.env" >&2; exit 2; }
# shellcheck disable=SC1090
. "$USERS_ENV"
OSV="$(bash "$REPO/scripts/pyvenv.sh" --print-path "$REPO/scripts/requirements-openstack.txt")"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*" >&2; }

# os USER PROJECT ARGS...: the openstack CLI as USER scoped to PROJECT; stdout to stdout,
# stderr kept in $TMP/err
os() {
    local user="$1" project="$2"
    shift 2
    env -u OS_TOKEN -u OS_CLOUD -u OS_SYSTEM_SCOPE -u OS_DOMAIN_NAME -u OS_DOMAIN_ID \
        OS_AUTH_TYPE=password OS_AUTH_URL="$KS_AUTH_URL" OS_IDENTITY_API_VERSION=3 \
        OS_USERNAME="$user" OS_PASSWORD="$KS_USER_PASSWORD" OS_PROJECT_NAME="$project" \
        OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
        OS_REGION_NAME="$KS_REGION" OS_INTERFACE=public \
        "$OSV/bin/openstack" "$@" 2>"$TMP/err"
}
# expect_ok DESCRIPTION: checks the last os call's status ($rc)
check_rc() {
    if [ "$rc" = 0 ]; then ok; else fail "$1 (exit $rc): $(tail -n 3 "$TMP/err")"; fi
}
# refused DESCRIPTION: the last os call must have failed with an HTTP 403 or 404 from Barbican
refused() {
    if [ "$rc" != 0 ] && grep -qiE '403|forbidden|404|not found' "$TMP/err"; then ok
    else fail "$1 (exit $rc): $(tail -n 3 "$TMP/err")"; fi
}

PAYLOAD="portcullis-cli-$$-$RANDOM"
NAME="cli-secret-$$"

# 1. store
rc=0; HREF="$(os a-member proj-a secret store --name "$NAME" --payload "$PAYLOAD" \
    -f value -c 'Secret href')" || rc=$?
check_rc "secret store"
case "$HREF" in
    "$KS_BARBICAN_URL"/v1/secrets/*) ok ;;
    *) fail "secret store: href '$HREF' is not under $KS_BARBICAN_URL/v1/secrets/"; HREF="" ;;
esac
if [ -z "$HREF" ]; then
    echo "$PASSED passed, $((FAILED + 1)) failed"
    exit 1
fi

# 2. payload back
rc=0; got="$(os a-member proj-a secret get "$HREF" --payload -f value -c Payload)" || rc=$?
check_rc "secret get --payload"
[ "$got" = "$PAYLOAD" ] && ok || fail "secret get --payload: got '$got', want '$PAYLOAD'"

# 3. metadata
rc=0; meta="$(os a-member proj-a secret get "$HREF" -f json)" || rc=$?
check_rc "secret get"
if "$OSV/bin/python" - "$meta" "$NAME" "$HREF" <<'PY'; then ok; else fail "secret get: unexpected metadata: $meta"; fi
import json, sys
m, name, href = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
assert m["Name"] == name, m
assert m["Status"] == "ACTIVE", m
assert m["Secret href"] == href, m
assert m["Secret type"] == "opaque", m
PY

# 4. list
rc=0; lst="$(os a-member proj-a secret list --name "$NAME" -f json)" || rc=$?
check_rc "secret list"
if "$OSV/bin/python" - "$lst" "$HREF" <<'PY'; then ok; else fail "secret list does not show $HREF: $lst"; fi
import json, sys
assert [s["Secret href"] for s in json.loads(sys.argv[1])] == [sys.argv[2]]
PY

# 5. another project's member neither sees nor reads it
rc=0; os b-member proj-b secret get "$HREF" --payload -f value -c Payload >/dev/null || rc=$?
refused "b-member (proj-b) reading proj-a's secret payload was not refused"
rc=0; lst="$(os b-member proj-b secret list -f json)" || rc=$?
check_rc "secret list as b-member"
case "$lst" in *"$HREF"*) fail "b-member's list shows proj-a's secret" ;; *) ok ;; esac

# 6. ACL: a-norole (member of proj-b only) may read once added
rc=0; os a-norole proj-b secret get "$HREF" --payload -f value -c Payload >/dev/null || rc=$?
refused "a-norole reading the payload before any ACL was not refused"
rc=0; os a-member proj-a acl user add --user "$KS_USER_A_NOROLE" "$HREF" >/dev/null || rc=$?
check_rc "acl user add"
rc=0; acl="$(os a-member proj-a acl get "$HREF" -f json)" || rc=$?
check_rc "acl get"
if "$OSV/bin/python" - "$acl" "$KS_USER_A_NOROLE" "$HREF" <<'PY'; then ok; else fail "acl get: unexpected: $acl"; fi
import json, sys
acls, uid, href = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
read = [a for a in acls if a["Operation Type"] == "read"]
assert len(read) == 1, acls
a = read[0]
assert a["Users"] == [uid] or a["Users"] == uid or uid in str(a["Users"]), a
assert a["Project Access"] in (True, "True"), a
assert a["Secret ACL Ref"] == href + "/acl", a
PY
rc=0; got="$(os a-norole proj-b secret get "$HREF" --payload -f value -c Payload)" || rc=$?
check_rc "secret get --payload as ACL user a-norole"
[ "$got" = "$PAYLOAD" ] && ok || fail "ACL user a-norole: got '$got', want '$PAYLOAD'"

# 7. private secret: project access off, the ACL user still reads, a-reader no longer does
rc=0; os a-member proj-a acl user add --no-project-access --user "$KS_USER_A_NOROLE" "$HREF" >/dev/null || rc=$?
check_rc "acl user add --no-project-access"
rc=0; acl="$(os a-member proj-a acl get "$HREF" -f json)" || rc=$?
check_rc "acl get (private)"
if "$OSV/bin/python" - "$acl" <<'PY'; then ok; else fail "acl get: project access still on: $acl"; fi
import json, sys
read = [a for a in json.loads(sys.argv[1]) if a["Operation Type"] == "read"]
assert read and read[0]["Project Access"] in (False, "False"), read
PY
rc=0; os a-reader proj-a secret get "$HREF" --payload -f value -c Payload >/dev/null || rc=$?
refused "a-reader reading a private (project-access off) secret's payload was not refused"
rc=0; got="$(os a-norole proj-b secret get "$HREF" --payload -f value -c Payload)" || rc=$?
check_rc "secret get --payload as ACL user a-norole (private)"
[ "$got" = "$PAYLOAD" ] && ok || fail "ACL user a-norole (private): got '$got'"

# 8. ACL user removed: read refused again
rc=0; os a-member proj-a acl user remove --user "$KS_USER_A_NOROLE" "$HREF" >/dev/null || rc=$?
check_rc "acl user remove"
rc=0; os a-norole proj-b secret get "$HREF" --payload -f value -c Payload >/dev/null || rc=$?
refused "a-norole reading after acl user remove was not refused"

# 9. delete, then gone
rc=0; os a-member proj-a secret delete "$HREF" >/dev/null || rc=$?
check_rc "secret delete"
rc=0; os a-member proj-a secret get "$HREF" >/dev/null || rc=$?
if [ "$rc" != 0 ] && grep -qi 'not found\|404' "$TMP/err"; then ok
else fail "secret get after delete: exit $rc, $(tail -n 2 "$TMP/err")"; fi
rc=0; lst="$(os a-member proj-a secret list --name "$NAME" -f json)" || rc=$?
check_rc "secret list after delete"
case "$lst" in *"$HREF"*) fail "secret list after delete still shows: $lst" ;; *) ok ;; esac

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
