#!/usr/bin/env bash
# Benchmark (not a test): payload GET through Keystone tokens, with the token cache on and off,
# on a release build behind a real Keystone (scripts/keystone.sh). Usage:
#   scripts/bench_keystone.sh [seconds] [connections]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DUR="${1:-10}"; CONN="${2:-32}"
command -v wrk >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null; }
cd "$REPO" && cargo build --release --locked -j"${CARGO_BUILD_JOBS:-2}" >/dev/null
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    bash "$REPO/scripts/keystone.sh" stop "$WORK/ks" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KSP=$(free_port)
bash scripts/keystone.sh start "$WORK/ks" "$KSP" >/dev/null
bash scripts/keystone.sh setup "$WORK/ks" "$KSP" "http://127.0.0.1:9311" >/dev/null
# shellcheck disable=SC1091
. "$WORK/ks/users.env"
printf '1:%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" > "$WORK/master.kek"; chmod 600 "$WORK/master.kek"

start() { # name cache_seconds -> sets BASE
    local name="$1" ttl="$2" port; port=$(free_port)
    mkdir -p "$WORK/$name"
    cat > "$WORK/$name/p.toml" <<EOT
[DEFAULT]
host_href = ""
sql_connection = "sqlite://$WORK/$name/p.db"
[auth]
strategy = "keystone"
[kek]
provider = "file"
file_path = "$WORK/master.kek"
[keystone_authtoken]
auth_url = "$KS_AUTH_URL"
username = "$KS_SERVICE_USER"
password = "$KS_SERVICE_PASSWORD"
project_name = "$KS_SERVICE_PROJECT"
token_cache_time = $ttl
EOT
    PORTCULLIS_LOG=warn "$REPO/target/release/portcullis" serve --config "$WORK/$name/p.toml" --listen "127.0.0.1:$port" >"$WORK/$name/log" 2>&1 &
    PIDS+=($!)
    BASE="http://127.0.0.1:$port"
    for _ in $(seq 1 50); do curl -sf "$BASE/healthcheck" >/dev/null && break; sleep 0.2; done
}
TOKEN=$(curl -si -H 'Content-Type: application/json' "$KS_AUTH_URL/auth/tokens?nocatalog" -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"a-member\",\"domain\":{\"id\":\"default\"},\"password\":\"$KS_USER_PASSWORD\"}}},\"scope\":{\"project\":{\"name\":\"proj-a\",\"domain\":{\"id\":\"default\"}}}}}" \
        | awk 'tolower($1)=="x-subject-token:" {print $2}' | tr -d '\r')
echo "Portcullis $(git -C "$REPO" rev-parse --short HEAD) release, SQLite, Keystone $(grep -o 'keystone==[0-9.]*' scripts/requirements-openstack.txt), ${DUR}s x ${CONN} connections, $(nproc) cores"
for mode in "cached:300" "uncached:0"; do
    start "${mode%%:*}" "${mode##*:}"
    ref=$(curl -sf -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json' \
          -d '{"payload":"0123456789abcdef","payload_content_type":"text/plain"}' "$BASE/v1/secrets" \
          | sed 's/.*"secret_ref": *"\([^"]*\)".*/\1/')
    out=$(wrk -t2 -c"$CONN" -d"${DUR}s" --latency -H "X-Auth-Token: $TOKEN" -H 'Accept: text/plain' "$ref/payload" 2>&1)
    printf '%-32s %10s req/s   p99 %8s  %s\n' "GET payload, token ${mode%%:*}" \
        "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '/ 99%/ {print $2}' <<<"$out")" \
        "$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' || true)"
done
