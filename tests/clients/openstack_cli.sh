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


# store_secret NAME [ARGS...]: a-member stores a secret; its href in SREF ("" when that failed)
store_secret() {
    local name="$1"
    shift
    rc=0; SREF="$(os a-member proj-a secret store --name "$name" --payload "payload-$name" "$@" \
        -f value -c 'Secret href')" || rc=$?
    if [ "$rc" = 0 ] && [ -n "$SREF" ]; then ok; else fail "secret store $name (exit $rc): $(tail -n 3 "$TMP/err")"; fi
}
# json_check DESCRIPTION JSON PYTHON-ASSERTIONS [ARGS...]: runs the assertions with
# j = the parsed JSON and a = the ARGS
json_check() {
    local desc="$1" json="$2" code="$3"
    shift 3
    if "$OSV/bin/python" -c "import json, sys
j, a = json.loads(sys.argv[1]), sys.argv[2:]
$code" "$json" "$@" 2>"$TMP/pyerr"; then ok
    else fail "$desc: $(tail -n 1 "$TMP/pyerr"): $json"; fi
}

# 10. generic container: create, get, list, delete
CNAME="cli-container-$$"
store_secret "cli-c1-$$"; S1="$SREF"
store_secret "cli-c2-$$"; S2="$SREF"
rc=0; C="$(os a-member proj-a secret container create --name "$CNAME" --type generic \
    --secret "first=$S1" --secret "second=$S2" -f value -c 'Container href')" || rc=$?
check_rc "secret container create generic"
case "$C" in
    "$KS_BARBICAN_URL"/v1/containers/*) ok ;;
    *) fail "secret container create: href '$C' is not under $KS_BARBICAN_URL/v1/containers/" ;;
esac
rc=0; got="$(os a-member proj-a secret container get "$C" -f json)" || rc=$?
check_rc "secret container get"
json_check "secret container get (generic)" "$got" '
assert j["Container href"] == a[0] and j["Name"] == a[1], "href/name"
assert j["Type"] == "generic" and j["Status"] == "ACTIVE", "type/status"
assert sorted(j["Secrets"].split("\n")) == sorted(["first=" + a[2], "second=" + a[3]]), "secrets"
' "$C" "$CNAME" "$S1" "$S2"
rc=0; got="$(os a-member proj-a secret container list --name "$CNAME" -f json)" || rc=$?
check_rc "secret container list"
json_check "secret container list --name" "$got" '
assert [c["Container href"] for c in j] == [a[0]], "hrefs"
' "$C"
rc=0; got="$(os a-member proj-a secret container list --type generic --limit 100 -f value -c 'Container href')" || rc=$?
check_rc "secret container list --type generic"
case "$got" in *"$C"*) ok ;; *) fail "secret container list --type generic does not show $C: $got" ;; esac
rc=0; os b-member proj-b secret container get "$C" >/dev/null || rc=$?
refused "b-member (proj-b) reading proj-a's container was not refused"

# 11. ACL on the container: a-norole reads it once added, not after acl delete
rc=0; os a-norole proj-b secret container get "$C" >/dev/null || rc=$?
refused "a-norole reading the container before any ACL was not refused"
rc=0; os a-member proj-a acl user add --user "$KS_USER_A_NOROLE" "$C" >/dev/null || rc=$?
check_rc "acl user add (container)"
rc=0; got="$(os a-member proj-a acl get "$C" -f json)" || rc=$?
check_rc "acl get (container)"
json_check "acl get (container)" "$got" '
read = [x for x in j if x["Operation Type"] == "read"]
assert len(read) == 1, "one read ACL"
assert a[0] in str(read[0]["Users"]), "user listed"
assert read[0]["Project Access"] in (True, "True"), "project access"
assert read[0]["Container ACL Ref"] == a[1] + "/acl", "acl ref"
' "$KS_USER_A_NOROLE" "$C"
rc=0; got="$(os a-norole proj-b secret container get "$C" -f value -c Name)" || rc=$?
check_rc "secret container get as ACL user a-norole"
[ "$got" = "$CNAME" ] && ok || fail "container get as ACL user a-norole: name '$got', want '$CNAME'"
rc=0; os a-member proj-a acl delete "$C" >/dev/null || rc=$?
check_rc "acl delete (container)"
rc=0; got="$(os a-member proj-a acl get "$C" -f json)" || rc=$?
check_rc "acl get after acl delete (container)"
json_check "acl get after acl delete (container)" "$got" '
for x in j:
    assert a[0] not in str(x["Users"]), "user still listed"
    assert x["Project Access"] in (True, "True"), "project access not back on"
' "$KS_USER_A_NOROLE"
rc=0; os a-norole proj-b secret container get "$C" >/dev/null || rc=$?
refused "a-norole reading the container after acl delete was not refused"

rc=0; os a-member proj-a secret container delete "$C" >/dev/null || rc=$?
check_rc "secret container delete"
rc=0; os a-member proj-a secret container get "$C" >/dev/null || rc=$?
if [ "$rc" != 0 ] && grep -qi 'not found\|404' "$TMP/err"; then ok
else fail "secret container get after delete: exit $rc, $(tail -n 2 "$TMP/err")"; fi
rc=0; got="$(os a-member proj-a secret get "$S1" -f value -c Status)" || rc=$?
check_rc "secret get of a deleted container's secret"
[ "$got" = ACTIVE ] && ok || fail "a deleted container's secret: status '$got', want ACTIVE"

# 12. rsa container: get shows the public and private key refs
store_secret "cli-pub-$$" --secret-type public; PUB="$SREF"
store_secret "cli-priv-$$" --secret-type private; PRIV="$SREF"
rc=0; RC="$(os a-member proj-a secret container create --name "cli-rsa-$$" --type rsa \
    --secret "public_key=$PUB" --secret "private_key=$PRIV" -f value -c 'Container href')" || rc=$?
check_rc "secret container create rsa"
# (-c: the CLI's rsa container formatter hands cliff an unformatted datetime for Created, which
# `-f json` cannot serialize: "Object of type datetime is not JSON serializable")
RSA_COLS=(-c Type -c Status -c 'Public Key' -c 'Private Key' -c 'PK Passphrase')
rc=0; got="$(os a-member proj-a secret container get "$RC" -f json "${RSA_COLS[@]}")" || rc=$?
check_rc "secret container get (rsa)"
json_check "secret container get (rsa)" "$got" '
assert j["Type"] == "rsa" and j["Status"] == "ACTIVE", "type/status"
assert j["Public Key"] == a[0], "public key"
assert j["Private Key"] == a[1], "private key"
assert j["PK Passphrase"] is None, "passphrase"
' "$PUB" "$PRIV"
rc=0; os a-member proj-a secret container delete "$RC" >/dev/null || rc=$?
check_rc "secret container delete (rsa)"

# wait_order HREF: polls `secret order get` until the order is ACTIVE (or ERROR), at most ~30 s;
# prints its -f json
wait_order() {
    local got="" st="" i
    for i in $(seq 1 30); do
        got="$(os a-member proj-a secret order get "$1" -f json)" || { echo "$got"; return 1; }
        st="$("$OSV/bin/python" -c 'import json, sys; print(json.loads(sys.argv[1])["Status"])' "$got")"
        case "$st" in ACTIVE|ERROR) break ;; esac
        sleep 1
    done
    echo "$got"
}

# 13. key order: ACTIVE, its secret a 256-bit AES key
rc=0; KO="$(os a-member proj-a secret order create key --name "cli-key-$$" --algorithm aes \
    --bit-length 256 --mode cbc -f value -c 'Order href')" || rc=$?
check_rc "secret order create key"
case "$KO" in
    "$KS_BARBICAN_URL"/v1/orders/*) ok ;;
    *) fail "secret order create key: href '$KO' is not under $KS_BARBICAN_URL/v1/orders/" ;;
esac
rc=0; got="$(wait_order "$KO")" || rc=$?
check_rc "secret order get (key)"
json_check "secret order get (key) never ACTIVE" "$got" '
assert j["Status"] == "ACTIVE", "status"
assert j["Order href"] == a[0] and j["Type"] == "Key", "href/type"
assert j["Secret href"].startswith(a[1] + "/v1/secrets/"), "secret href"
' "$KO" "$KS_BARBICAN_URL"
KS="$("$OSV/bin/python" -c 'import json, sys; print(json.loads(sys.argv[1]).get("Secret href") or "")' "$got" 2>/dev/null || true)"
rc=0; got="$(os a-member proj-a secret get "$KS" -f json)" || rc=$?
check_rc "secret get (ordered key)"
json_check "secret get (ordered key)" "$got" '
assert j["Status"] == "ACTIVE" and j["Name"] == a[0], "status/name"
assert j["Algorithm"] == "aes" and int(j["Bit length"]) == 256, "algorithm/bits"
assert j["Secret type"] == "symmetric", "type"
assert j["Content types"] and "application/octet-stream" in str(j["Content types"]), "content types"
' "cli-key-$$"
rm -f "$TMP/key.bin"
# the CLI asks for text/plain unless told (-t): an octet-stream key must be asked for as such
rc=0; os a-member proj-a secret get "$KS" --file "$TMP/key.bin" -t application/octet-stream >/dev/null || rc=$?
check_rc "secret get --file (ordered key)"
n="$(wc -c <"$TMP/key.bin" 2>/dev/null || echo 0)"
[ "$n" = 32 ] && ok || fail "ordered key payload: $n bytes, want 32"
rc=0; os a-member proj-a secret get "$KS" --payload -f value -c Payload >/dev/null || rc=$?
if [ "$rc" != 0 ] && grep -qiE '406|not acceptable' "$TMP/err"; then ok
else fail "secret get --payload (text/plain) of an octet-stream key: exit $rc, want 406: $(tail -n 2 "$TMP/err")"; fi
rc=0; got="$(os a-member proj-a secret get "$KS" --payload -t application/octet-stream -f value -c Payload)" || rc=$?
check_rc "secret get --payload (ordered key)"
[ -n "$got" ] && ok || fail "secret get --payload (ordered key): empty"

# 14. asymmetric order: ACTIVE, its container an rsa one with both keys
rc=0; AO="$(os a-member proj-a secret order create asymmetric --name "cli-rsa-order-$$" \
    --algorithm rsa --bit-length 2048 -f value -c 'Order href')" || rc=$?
check_rc "secret order create asymmetric"
rc=0; got="$(wait_order "$AO")" || rc=$?
check_rc "secret order get (asymmetric)"
json_check "secret order get (asymmetric) never ACTIVE" "$got" '
assert j["Status"] == "ACTIVE" and j["Type"] == "Asymmetric", "status/type"
assert j["Container href"].startswith(a[0] + "/v1/containers/"), "container href"
' "$KS_BARBICAN_URL"
AC="$("$OSV/bin/python" -c 'import json, sys; print(json.loads(sys.argv[1]).get("Container href") or "")' "$got" 2>/dev/null || true)"
rc=0; got="$(os a-member proj-a secret container get "$AC" -f json "${RSA_COLS[@]}")" || rc=$?
check_rc "secret container get (asymmetric order's)"
json_check "asymmetric order's container" "$got" '
assert j["Type"] == "rsa" and j["Status"] == "ACTIVE", "type/status"
assert j["Public Key"] and j["Private Key"], "keys"
' 
APUB="$("$OSV/bin/python" -c 'import json, sys; print(json.loads(sys.argv[1]).get("Public Key") or "")' "$got" 2>/dev/null || true)"
APRIV="$("$OSV/bin/python" -c 'import json, sys; print(json.loads(sys.argv[1]).get("Private Key") or "")' "$got" 2>/dev/null || true)"
for pair in "public:$APUB" "private:$APRIV"; do
    want="${pair%%:*}"; ref="${pair#*:}"
    rc=0; got="$(os a-member proj-a secret get "$ref" -f json)" || rc=$?
    check_rc "secret get (asymmetric order's $want key)"
    json_check "asymmetric order's $want key" "$got" '
assert j["Secret type"] == a[0] and j["Status"] == "ACTIVE", "type/status"
assert j["Algorithm"] == "rsa" and int(j["Bit length"]) == 2048, "algorithm/bits"
' "$want"
done
rm -f "$TMP/priv.pem"
rc=0; os a-member proj-a secret get "$APRIV" --file "$TMP/priv.pem" -t application/octet-stream >/dev/null || rc=$?
check_rc "secret get --file (asymmetric order's private key)"
if grep -q 'BEGIN.*PRIVATE KEY' "$TMP/priv.pem" 2>/dev/null \
    || { command -v openssl >/dev/null && openssl pkey -inform DER -in "$TMP/priv.pem" -noout 2>/dev/null; }; then ok
else fail "asymmetric order's private key is neither PEM nor DER: $(head -c 60 "$TMP/priv.pem" 2>/dev/null | od -c | head -n 2)"; fi

# 15. order list and delete
rc=0; got="$(os a-member proj-a secret order list --limit 100 -f value -c 'Order href')" || rc=$?
check_rc "secret order list"
case "$got" in *"$KO"*) ;; *) got="missing $KO" ;; esac
case "$got" in *"$AO"*) ok ;; *) fail "secret order list does not show both orders: $got" ;; esac
rc=0; os b-member proj-b secret order get "$KO" >/dev/null || rc=$?
refused "b-member (proj-b) reading proj-a's order was not refused"
for o in "$KO" "$AO"; do
    rc=0; os a-member proj-a secret order delete "$o" >/dev/null || rc=$?
    check_rc "secret order delete"
    rc=0; os a-member proj-a secret order get "$o" >/dev/null || rc=$?
    if [ "$rc" != 0 ] && grep -qi 'not found\|404' "$TMP/err"; then ok
    else fail "secret order get after delete: exit $rc, $(tail -n 2 "$TMP/err")"; fi
done
rc=0; got="$(os a-member proj-a secret get "$KS" -f value -c Status)" || rc=$?
check_rc "secret get after its order's delete"
[ "$got" = ACTIVE ] && ok || fail "ordered key after order delete: status '$got'"

# 16. project quotas. python-barbicanclient 7.6 has no quota commands (neither in the CLI nor
# as a manager in barbicanclient.v1.client.Client), so as a new user would: its Client's
# authenticated HTTP adapter (Client.client) on /v1/quotas and /v1/project-quotas. The policy
# (secure RBAC) wants role admin: a-admin. proj-b's quota is set, enforced on b-member, deleted.
QPY="$TMP/quotas.py"
cat >"$QPY" <<'PY'
import json, os, sys
from keystoneauth1 import session
from keystoneauth1.identity import v3
from barbicanclient import client

def cl(user, project):
    auth = v3.Password(auth_url=os.environ["KS_AUTH_URL"], username=user,
                       password=os.environ["KS_USER_PASSWORD"], project_name=project,
                       user_domain_name="Default", project_domain_name="Default")
    return client.Client(session=session.Session(auth=auth),
                         region_name=os.environ["KS_REGION"], interface="public").client

op, user, project = sys.argv[1:4]
c = cl(user, project)
if op == "get":                       # get [PROJECT_ID]: quotas or project-quotas/ID
    path = "project-quotas/" + sys.argv[4] if len(sys.argv) > 4 else "quotas"
    print(json.dumps(c.get(path)))
elif op == "list":
    print(json.dumps(c.get("project-quotas")))
elif op == "set":                     # set PROJECT_ID JSON
    r = c.put("project-quotas/" + sys.argv[4], json={"project_quotas": json.loads(sys.argv[5])})
    print(r.status_code)
elif op == "delete":
    print(c.delete("project-quotas/" + sys.argv[4]).status_code)
PY
q() {
    KS_AUTH_URL="$KS_AUTH_URL" KS_USER_PASSWORD="$KS_USER_PASSWORD" KS_REGION="$KS_REGION" \
        "$OSV/bin/python" "$QPY" "$@" 2>"$TMP/err"
}
rc=0; got="$(q get a-member proj-a)" || rc=$?
check_rc "GET /v1/quotas as a-member"
json_check "GET /v1/quotas (effective quotas)" "$got" '
qs = j["quotas"]
for k in ("secrets", "orders", "containers", "consumers", "cas"):
    assert isinstance(qs[k], int), k
'
rc=0; q set a-member proj-a "$KS_PROJECT_PROJ_B" '{"secrets": 0}' >/dev/null || rc=$?
refused "a-member setting project quotas was not refused"
rc=0; got="$(q set a-admin proj-a "$KS_PROJECT_PROJ_B" \
    '{"secrets": 0, "orders": 5, "containers": 7, "consumers": 9, "cas": 11}')" || rc=$?
check_rc "PUT /v1/project-quotas/{proj-b} as a-admin"
[ "$got" = 204 ] && ok || fail "PUT /v1/project-quotas: status '$got', want 204"
rc=0; got="$(q get a-admin proj-a "$KS_PROJECT_PROJ_B")" || rc=$?
check_rc "GET /v1/project-quotas/{proj-b}"
json_check "GET /v1/project-quotas/{proj-b}" "$got" '
assert j["project_quotas"] == {"secrets": 0, "orders": 5, "containers": 7, "consumers": 9, "cas": 11}, "values"
'
rc=0; got="$(q list a-admin proj-a)" || rc=$?
check_rc "GET /v1/project-quotas"
json_check "GET /v1/project-quotas" "$got" '
mine = [p for p in j["project_quotas"] if p["project_id"] == a[0]]
assert len(mine) == 1 and mine[0]["project_quotas"]["containers"] == 7, "proj-b listed"
assert j["total"] >= 1, "total"
' "$KS_PROJECT_PROJ_B"
rc=0; got="$(q get b-member proj-b)" || rc=$?
check_rc "GET /v1/quotas as b-member"
json_check "GET /v1/quotas as b-member (proj-b's)" "$got" '
assert j["quotas"]["secrets"] == 0 and j["quotas"]["cas"] == 11, "values"
'
rc=0; os b-member proj-b secret store --name "cli-over-quota-$$" --payload x -f value -c 'Secret href' >/dev/null || rc=$?
if [ "$rc" != 0 ] && grep -qiE '403|quota' "$TMP/err"; then ok
else fail "secret store over proj-b's secrets quota 0 was not refused (exit $rc): $(tail -n 2 "$TMP/err")"; fi
rc=0; got="$(q delete a-admin proj-a "$KS_PROJECT_PROJ_B")" || rc=$?
check_rc "DELETE /v1/project-quotas/{proj-b}"
[ "$got" = 204 ] && ok || fail "DELETE /v1/project-quotas: status '$got', want 204"
rc=0; q get a-admin proj-a "$KS_PROJECT_PROJ_B" >/dev/null || rc=$?
if [ "$rc" != 0 ] && grep -qi 'not found\|404' "$TMP/err"; then ok
else fail "GET /v1/project-quotas/{proj-b} after delete: exit $rc, $(tail -n 2 "$TMP/err")"; fi
rc=0; got="$(q get b-member proj-b)" || rc=$?
check_rc "GET /v1/quotas as b-member after delete"
json_check "GET /v1/quotas after delete (defaults back)" "$got" '
assert j["quotas"]["secrets"] != 0, "secrets still 0"
'

# cleanup of what is left
for h in "$S1" "$S2" "$PUB" "$PRIV" "$KS" "$APUB" "$APRIV"; do
    [ -n "$h" ] && os a-member proj-a secret delete "$h" >/dev/null 2>&1 || true
done
[ -n "$AC" ] && os a-member proj-a secret container delete "$AC" >/dev/null 2>&1 || true

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
