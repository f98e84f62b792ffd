# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are devstack's, read by the plugin
# Minimal stand-ins for the devstack helpers the Portcullis plugin calls, so its functions run
# against a real Keystone and database outside a devstack: Keystone registration through the
# real `openstack` CLI (as devstack's functions-common does it), the database through the
# mariadb client, processes in the background instead of systemd units.
# Needs: OSV (OpenStack venv), KS_AUTH_URL, WORK, MY_HOST/MY_PORT/MY_USER/MY_PASS.

ENABLED_SERVICES=${ENABLED_SERVICES:-key,mysql}
STACK_USER=$(id -un)
DEST=$WORK/opt
DATA_DIR=$WORK/data
LOGDIR=$WORK/logs
SERVICE_HOST=127.0.0.1
SERVICE_PROTOCOL=http
SERVICE_PASSWORD=devstack-service-pass
SERVICE_PROJECT_NAME=service
SERVICE_DOMAIN_NAME=Default
REGION_NAME=RegionOne
KEYSTONE_SERVICE_URI=${KS_AUTH_URL%/v3}
mkdir -p "$DEST" "$DATA_DIR" "$LOGDIR"

function echo_summary { echo "== $*"; }
function die { local line=$1; shift; echo "die (line $line): $*" >&2; exit 1; }
function is_service_enabled {
    local s
    for s in "$@"; do
        [[ ",$ENABLED_SERVICES," == *",$s,"* ]] && return 0
    done
    return 1
}
function enable_service { ENABLED_SERVICES="$ENABLED_SERVICES,$1"; }
function install_package { echo "(install_package $* skipped)"; }
if ! command -v sudo >/dev/null; then
    function sudo { "$@"; }
fi

function _os {
    env -u OS_CLOUD OS_AUTH_TYPE=password OS_AUTH_URL="$KS_AUTH_URL" OS_IDENTITY_API_VERSION=3 \
        OS_USERNAME=admin OS_PASSWORD="${KS_ADMIN_PASSWORD:-admin-pass}" OS_PROJECT_NAME=admin \
        OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_REGION_NAME="$REGION_NAME" \
        "$OSV/bin/openstack" "$@"
}
function get_or_create_user { _os user create "$1" --password "$2" --domain "$3" --or-show -f value -c id; }
function get_or_create_project { _os project create "$1" --domain "$2" --or-show -f value -c id; }
function get_or_create_role { _os role create "$1" --or-show -f value -c id; }
function get_or_add_user_project_role {
    _os role add "$1" --user "$2" --project "$3" --user-domain "${4:-Default}" --project-domain "${5:-Default}"
}
function create_service_user {
    get_or_create_user "$1" "$SERVICE_PASSWORD" "$SERVICE_DOMAIN_NAME" >/dev/null
    get_or_add_user_project_role "${2:-service}" "$1" "$SERVICE_PROJECT_NAME" "$SERVICE_DOMAIN_NAME" "$SERVICE_DOMAIN_NAME"
}
function get_or_create_service {
    _os service show "$2" -f value -c id 2>/dev/null ||
        _os service create "$2" --name "$1" --description="$3" -f value -c id
}
function get_or_create_endpoint {
    local id
    id=$(_os endpoint list --service "$1" --interface public --region "$2" -f value -c ID)
    [[ -n "$id" ]] || id=$(_os endpoint create --region "$2" "$1" public "$3" -f value -c id)
    echo "$id"
}
function database_connection_url {
    echo "mysql+pymysql://$MY_USER:$MY_PASS@$MY_HOST:$MY_PORT/$1?charset=utf8"
}
function recreate_database {
    mariadb -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" -p"$MY_PASS" \
        -e "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1 CHARACTER SET utf8mb4"
}
function run_process {
    # devstack writes a systemd unit (write_user_unit_file) and starts it; here: background.
    nohup bash -c "exec $2" >"$LOGDIR/$1.log" 2>&1 &
    echo $! >"$WORK/$1.pid"
}
function stop_process {
    local pid
    [[ -f "$WORK/$1.pid" ]] || return 0
    pid=$(cat "$WORK/$1.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    rm -f "$WORK/$1.pid"
}
function wait_for_service {
    timeout "$1" bash -c "until curl -s -o /dev/null '$2'; do sleep 0.5; done"
}

# What devstack's Keystone set-up made before plugins run.
get_or_create_project "$SERVICE_PROJECT_NAME" "$SERVICE_DOMAIN_NAME" >/dev/null
get_or_create_role service >/dev/null
