#!/bin/bash
# shellcheck shell=bash
# devstack plugin: Portcullis as the key-manager service, in place of Barbican.
#
#   stack install      install_portcullis         cargo build --release (rustup if no cargo)
#   stack post-config  configure_portcullis       the TOML config (devstack DB and Keystone)
#                      create_portcullis_accounts service user, key-manager service, endpoints
#   stack extra        init_portcullis            database, schema, master KEK
#                      start_portcullis           under systemd (run_process: write_user_unit_file)
#   unstack            stop_portcullis
#   clean              cleanup_portcullis
#
# The functions use devstack's helpers (functions-common, lib/database, lib/keystone).

# A TOML basic string: backslashes and double quotes escaped.
function _portcullis_toml_str {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}

# True/False (devstack's spelling) as TOML.
function _portcullis_toml_bool {
    if [[ "${1,,}" == "true" ]]; then echo true; else echo false; fi
}

function _portcullis_endpoint {
    echo "$PORTCULLIS_SERVICE_PROTOCOL://$PORTCULLIS_SERVICE_HOST:$PORTCULLIS_SERVICE_PORT"
}

# The devstack database URL without SQLAlchemy's query options (?charset=utf8 & co.).
function _portcullis_db_url {
    local url
    url=$(database_connection_url "$PORTCULLIS_DB_NAME")
    echo "${url%%\?*}"
}

function install_portcullis {
    if ! is_service_enabled portcullis; then
        return 0
    fi
    if is_service_enabled barbican; then
        die $LINENO "Portcullis replaces Barbican: disable the barbican service (or its plugin)"
    fi
    if [[ "$PORTCULLIS_KEK_PROVIDER" == "swtpm" ]]; then
        install_package swtpm swtpm-tools
    fi
    if [[ "${PORTCULLIS_BUILD,,}" != "true" ]]; then
        [[ -x "$PORTCULLIS_BIN" ]] || die $LINENO "PORTCULLIS_BUILD=False but $PORTCULLIS_BIN is missing"
        return 0
    fi
    install_package pkg-config libtss2-dev libpq-dev libmariadb-dev
    if ! command -v cargo >/dev/null; then
        curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        # shellcheck disable=SC1091
        source "$HOME/.cargo/env"
    fi
    (cd "$PORTCULLIS_DIR" && cargo build --release --locked)
}

# Writes PORTCULLIS_CONF for the devstack database and Keystone.
function configure_portcullis {
    local kek
    sudo install -d -o "$STACK_USER" -m 0755 "$PORTCULLIS_CONF_DIR"
    install -d -m 0700 "$PORTCULLIS_DATA_DIR"
    case "$PORTCULLIS_KEK_PROVIDER" in
        file) kek="provider = \"file\"
file_path = $(_portcullis_toml_str "$PORTCULLIS_DATA_DIR/master.kek")" ;;
        swtpm) kek="provider = \"tpm\"
tcti = $(_portcullis_toml_str "swtpm:host=127.0.0.1,port=$PORTCULLIS_SWTPM_PORT")
sealed_dir = $(_portcullis_toml_str "$PORTCULLIS_DATA_DIR/kek")" ;;
        tpm) kek="provider = \"tpm\"
tcti = \"device:/dev/tpmrm0\"
sealed_dir = $(_portcullis_toml_str "$PORTCULLIS_DATA_DIR/kek")" ;;
        *) die $LINENO "PORTCULLIS_KEK_PROVIDER must be swtpm, tpm or file, not '$PORTCULLIS_KEK_PROVIDER'" ;;
    esac
    local new_defaults
    new_defaults=$(_portcullis_toml_bool "$PORTCULLIS_ENFORCE_NEW_DEFAULTS")
    # The config holds the service user's password and the database URL: not world-readable.
    (umask 077 && cat >"$PORTCULLIS_CONF" <<TOML
# Written by the Portcullis devstack plugin.
[DEFAULT]
bind_host = $(_portcullis_toml_str "$PORTCULLIS_SERVICE_LISTEN_ADDRESS")
bind_port = $PORTCULLIS_SERVICE_PORT
host_href = $(_portcullis_toml_str "$(_portcullis_endpoint)")
sql_connection = $(_portcullis_toml_str "$(_portcullis_db_url)")
db_auto_create = false

[auth]
strategy = "keystone"

[keystone_authtoken]
auth_url = $(_portcullis_toml_str "$KEYSTONE_SERVICE_URI")
www_authenticate_uri = $(_portcullis_toml_str "$KEYSTONE_SERVICE_URI")
auth_type = "password"
username = $(_portcullis_toml_str "$PORTCULLIS_SERVICE_USER")
password = $(_portcullis_toml_str "$SERVICE_PASSWORD")
project_name = $(_portcullis_toml_str "$SERVICE_PROJECT_NAME")
user_domain_name = $(_portcullis_toml_str "$SERVICE_DOMAIN_NAME")
project_domain_name = $(_portcullis_toml_str "$SERVICE_DOMAIN_NAME")

[kek]
$kek

[oslo_policy]
enforce_new_defaults = $new_defaults
enforce_scope = $new_defaults
TOML
    )
}

# The service user, the key-manager service and its endpoints, and Barbican's legacy roles.
function create_portcullis_accounts {
    create_service_user "$PORTCULLIS_SERVICE_USER" "admin"
    get_or_add_user_project_role service "$PORTCULLIS_SERVICE_USER" "$SERVICE_PROJECT_NAME"
    get_or_create_service "portcullis" "key-manager" "Key Manager (Portcullis)"
    get_or_create_endpoint "key-manager" "$REGION_NAME" "$(_portcullis_endpoint)"
    local role
    for role in creator observer audit; do
        get_or_create_role "$role"
    done
}

function _portcullis_cli {
    "$PORTCULLIS_BIN" "$@" --config "$PORTCULLIS_CONF"
}

# A fresh database with the schema, and the master KEK (sealed once per data dir).
function init_portcullis {
    recreate_database "$PORTCULLIS_DB_NAME"
    if [[ "$PORTCULLIS_KEK_PROVIDER" == "swtpm" ]]; then
        install -d -m 0700 "$PORTCULLIS_DATA_DIR/swtpm"
        run_process portcullis-swtpm "$(command -v swtpm) socket --tpm2 --tpmstate dir=$PORTCULLIS_DATA_DIR/swtpm \
--server type=tcp,port=$PORTCULLIS_SWTPM_PORT,bindaddr=127.0.0.1 \
--ctrl type=tcp,port=$((PORTCULLIS_SWTPM_PORT + 1)),bindaddr=127.0.0.1 --flags not-need-init,startup-clear"
    fi
    _portcullis_cli db upgrade
    _portcullis_cli kek init
}

function start_portcullis {
    run_process portcullis "$PORTCULLIS_BIN serve --config $PORTCULLIS_CONF"
    local url
    url="$(_portcullis_endpoint)/healthcheck"
    echo "Waiting for Portcullis at $url"
    if ! wait_for_service "${SERVICE_TIMEOUT:-60}" "$url"; then
        die $LINENO "Portcullis did not start"
    fi
}

function stop_portcullis {
    stop_process portcullis
    if [[ "$PORTCULLIS_KEK_PROVIDER" == "swtpm" ]]; then
        stop_process portcullis-swtpm
    fi
}

function cleanup_portcullis {
    rm -rf "$PORTCULLIS_DATA_DIR"
    sudo rm -f "$PORTCULLIS_CONF"
}

if is_service_enabled portcullis; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing Portcullis"
        install_portcullis
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring Portcullis"
        configure_portcullis
        if is_service_enabled key; then
            create_portcullis_accounts
        fi
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "Initializing and starting Portcullis"
        init_portcullis
        start_portcullis
    fi
    if [[ "$1" == "unstack" ]]; then
        stop_portcullis
    fi
    if [[ "$1" == "clean" ]]; then
        cleanup_portcullis
    fi
fi
