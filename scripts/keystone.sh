#!/usr/bin/env bash
# A real Keystone (from PyPI, under gunicorn, SQLite, fernet tokens) for the end-to-end tests.
#
#   scripts/keystone.sh start WORKDIR PORT
#       writes WORKDIR/keystone.conf, sets up fernet/credential keys, the database and the
#       bootstrap admin (user admin, password admin-pass, project admin, region RegionOne,
#       identity endpoints http://127.0.0.1:PORT/v3), starts gunicorn on 127.0.0.1:PORT and
#       waits until it answers. Master pid in WORKDIR/keystone.pid, log in WORKDIR/keystone.log.
#   scripts/keystone.sh setup WORKDIR PORT BARBICAN_URL
#       roles, the key-manager service and its endpoints at BARBICAN_URL, the service project
#       with the validating user portcullis/portcullis-pass, projects proj-a and proj-b and
#       their users (password "pass"). Writes WORKDIR/users.env (shell) and WORKDIR/users.json.
#   scripts/keystone.sh stop WORKDIR
#       TERM the pid in WORKDIR/keystone.pid, wait for it (KILL after 20 s).
#
# Env: PORTCULLIS_OS_VENV  venv with requirements-openstack.txt (default <repo>/.venv-openstack;
#                          installed/updated through scripts/pyvenv.sh on start and setup)
#      KEYSTONE_TOKEN_EXPIRATION  token lifetime in seconds (start; default Keystone's 3600)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "keystone.sh: $*" >&2; exit 1; }
usage() { sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

venv() {
    OSV="$(bash "$REPO/scripts/pyvenv.sh" --print-path "$REPO/scripts/requirements-openstack.txt")"
}

alive() {  # alive PID: the pid runs and is a gunicorn (guards against a recycled pid)
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q gunicorn
}

cmd_start() {
    [ $# -eq 2 ] || usage
    local work port url pid
    mkdir -p "$1"
    work="$(cd "$1" && pwd)"
    port="$2"
    url="http://127.0.0.1:$port"
    if [ -f "$work/keystone.pid" ] && alive "$(cat "$work/keystone.pid")"; then
        die "already running in $work (pid $(cat "$work/keystone.pid"))"
    fi
    if curl -s -o /dev/null --max-time 2 "$url/"; then
        die "something already answers on 127.0.0.1:$port"
    fi
    venv
    mkdir -p "$work/fernet-keys" "$work/credential-keys"
    chmod 700 "$work/fernet-keys" "$work/credential-keys"
    cat >"$work/keystone.conf" <<EOF
[DEFAULT]
debug = false
use_stderr = true
public_endpoint = $url

[database]
connection = sqlite:///$work/keystone.db

[token]
provider = fernet
${KEYSTONE_TOKEN_EXPIRATION:+expiration = $KEYSTONE_TOKEN_EXPIRATION}

[fernet_tokens]
key_repository = $work/fernet-keys

[fernet_receipts]
key_repository = $work/fernet-keys

[credential]
key_repository = $work/credential-keys

[cache]
enabled = true
backend = dogpile.cache.memory
EOF
    local km=("$OSV/bin/keystone-manage" --config-file "$work/keystone.conf")
    local own=(--keystone-user "$(id -un)" --keystone-group "$(id -gn)")
    {
        "${km[@]}" fernet_setup "${own[@]}"
        "${km[@]}" credential_setup "${own[@]}"
        "${km[@]}" db_sync
        "${km[@]}" bootstrap --bootstrap-password admin-pass \
            --bootstrap-username admin --bootstrap-project-name admin \
            --bootstrap-role-name admin --bootstrap-service-name keystone \
            --bootstrap-region-id RegionOne \
            --bootstrap-admin-url "$url/v3" --bootstrap-internal-url "$url/v3" \
            --bootstrap-public-url "$url/v3"
    } >>"$work/keystone-manage.log" 2>&1 \
        || { tail -n 30 "$work/keystone-manage.log" >&2; die "keystone-manage failed (log: $work/keystone-manage.log)"; }

    # keystone parses sys.argv with oslo.config: hand it an argv without gunicorn's options.
    cat >"$work/keystone_wsgi.py" <<'EOF'
import sys
sys.argv = sys.argv[:1]
from keystone.server.wsgi import initialize_public_application
application = initialize_public_application()
EOF
    rm -f "$work/keystone.pid"
    # setsid: not in the caller's process group, so a terminal ^C reaches only the caller,
    # whose trap stops Keystone by pid.
    OS_KEYSTONE_CONFIG_FILES="$work/keystone.conf" setsid "$OSV/bin/gunicorn" \
        --workers 1 --worker-class sync --timeout 120 --no-control-socket \
        --bind "127.0.0.1:$port" --pid "$work/keystone.pid" --chdir "$work" \
        --access-logfile - --error-logfile - \
        keystone_wsgi:application \
        >>"$work/keystone.log" 2>&1 </dev/null &
    pid=$!
    local deadline=$((SECONDS + 60))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if curl -sf -o /dev/null --max-time 5 "$url/v3"; then
            [ -f "$work/keystone.pid" ] || echo "$pid" >"$work/keystone.pid"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.3
    done
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    rm -f "$work/keystone.pid"
    tail -n 30 "$work/keystone.log" >&2
    die "keystone did not answer on $url/v3 within 60 s (log: $work/keystone.log)"
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    local pidf="$1/keystone.pid" pid
    [ -f "$pidf" ] || return 0
    pid="$(cat "$pidf")"
    if alive "$pid"; then
        kill -TERM "$pid"
        for _ in $(seq 1 100); do alive "$pid" || break; sleep 0.2; done
        if alive "$pid"; then
            echo "keystone.sh: pid $pid ignored TERM for 20 s; sending KILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidf"
}

cmd_setup() {
    [ $# -eq 3 ] || usage
    local work
    work="$(cd "$1" && pwd)"
    venv
    KS_URL="http://127.0.0.1:$2/v3" BARBICAN_URL="${3%/}" KS_WORK="$work" \
        "$OSV/bin/python" - <<'PY'
import json, os, shlex, sys
from keystoneauth1 import session
from keystoneauth1.identity import v3

ks, barbican, work = os.environ["KS_URL"], os.environ["BARBICAN_URL"], os.environ["KS_WORK"]
auth = v3.Password(auth_url=ks, username="admin", password="admin-pass",
                   user_domain_id="default", system_scope="all")
s = session.Session(auth=auth)
EP = {"endpoint_override": ks}

def get(path, key, **params):
    return s.get(path, params=params, **EP).json()[key]

def ensure(coll, key, body, **match):
    found = get("/" + coll, coll, **match)
    if found:
        return found[0]
    return s.post("/" + coll, json={key: body}, **EP).json()[key]

roles = {}
for name in ["admin", "member", "reader", "manager", "service",
             "creator", "observer", "audit", "key-manager:service-admin"]:
    roles[name] = ensure("roles", "role", {"name": name}, name=name)["id"]

svc = ensure("services", "service",
             {"type": "key-manager", "name": "barbican", "enabled": True,
              "description": "Key Manager (Portcullis)"}, type="key-manager")
for iface in ["public", "internal", "admin"]:
    eps = get("/endpoints", "endpoints", service_id=svc["id"], interface=iface)
    if eps:
        s.patch("/endpoints/" + eps[0]["id"], json={"endpoint": {"url": barbican}}, **EP)
    else:
        s.post("/endpoints", json={"endpoint": {
            "service_id": svc["id"], "interface": iface, "url": barbican,
            "region_id": "RegionOne", "enabled": True}}, **EP)

projects = {}
for name in ["admin", "service", "proj-a", "proj-b"]:
    projects[name] = ensure("projects", "project",
                            {"name": name, "domain_id": "default", "enabled": True},
                            name=name, domain_id="default")["id"]

# user -> (password, project, [roles]) ; extra grants below
users = {
    "portcullis":      ("portcullis-pass", "service", ["admin", "service"]),
    "a-admin":         ("pass", "proj-a", ["admin"]),
    "a-member":        ("pass", "proj-a", ["member"]),
    "a-reader":        ("pass", "proj-a", ["reader"]),
    "a-creator":       ("pass", "proj-a", ["creator"]),
    "a-observer":      ("pass", "proj-a", ["observer"]),
    "a-audit":         ("pass", "proj-a", ["audit"]),
    "a-service-admin": ("pass", "proj-a", ["key-manager:service-admin"]),
    "a-norole":        ("pass", "proj-b", ["member"]),   # no role on proj-a: an ACL user
    "b-admin":         ("pass", "proj-b", ["admin"]),
    "b-member":        ("pass", "proj-b", ["member"]),
}
uids = {"admin": get("/users", "users", name="admin", domain_id="default")[0]["id"]}
for name, (pw, proj, rs) in users.items():
    u = ensure("users", "user", {"name": name, "password": pw, "domain_id": "default",
                                 "enabled": True, "default_project_id": projects[proj]},
               name=name, domain_id="default")
    uids[name] = u["id"]
    for r in rs:
        s.put(f"/projects/{projects[proj]}/users/{u['id']}/roles/{roles[r]}", **EP)

out = {"auth_url": ks, "barbican_url": barbican, "region": "RegionOne",
       "admin_password": "admin-pass", "user_password": "pass",
       "service_user": "portcullis", "service_password": "portcullis-pass",
       "service_project": "service",
       "users": uids, "projects": projects, "roles": roles}
with open(os.path.join(work, "users.json"), "w") as f:
    json.dump(out, f, indent=2, sort_keys=True)
def ident(n):
    return n.upper().replace("-", "_").replace(":", "_")
with open(os.path.join(work, "users.env"), "w") as f:
    f.write("# written by scripts/keystone.sh setup; source it\n")
    for k, v in [("KS_AUTH_URL", ks), ("KS_BARBICAN_URL", barbican),
                 ("KS_REGION", "RegionOne"), ("KS_ADMIN_PASSWORD", "admin-pass"),
                 ("KS_USER_PASSWORD", "pass"), ("KS_SERVICE_USER", "portcullis"),
                 ("KS_SERVICE_PASSWORD", "portcullis-pass"), ("KS_SERVICE_PROJECT", "service")]:
        f.write(f"{k}={shlex.quote(v)}\n")
    for n, i in sorted(uids.items()):
        f.write(f"KS_USER_{ident(n)}={i}\n")
    for n, i in sorted(projects.items()):
        f.write(f"KS_PROJECT_{ident(n)}={i}\n")
PY
}

[ $# -ge 1 ] || usage
sub="$1"; shift
case "$sub" in
    start) cmd_start "$@" ;;
    setup) cmd_setup "$@" ;;
    stop)  cmd_stop "$@" ;;
    *) usage ;;
esac
