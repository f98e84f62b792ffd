#!/usr/bin/env bash
# Benchmark (not a test): the hot routes of a release build as production runs them: behind a
# real Keystone (scripts/keystone.sh) with the token cache on, on SQLite and on PostgreSQL.
# For each route: req/s, its fraction of GET /v1 in the same run, p50/p99, errors, and the
# server's RSS (VmRSS after the route; VmHWM, the peak, at the end of each backend).
#
#   scripts/bench_matrix.sh [seconds] [connections]        (default 10 s, 16 connections)
#
# Routes: GET /v1; secret metadata GET; payload GET; user metadata GET; secrets list limit=10
# with 10 secrets in the project, then with 100,000 (seeded with SQL: metadata-only rows, 1%
# deleted, 2% expired, 1% shared by ACL with another user), plus that user's acl_only list;
# one-step POST create (last: it grows the project).
#
# With BENCH_SUITE=keys (scripts/bench_keys.sh), the routes are the managed-key operations
# instead: encrypt/decrypt of 64 bytes (aes256-gcm), HMAC, ECDSA P-256 signing, a batch encrypt
# of 1,000 items, then KMS v2 Decrypt over the [kms_v2] socket at 16 concurrent callers, each
# on its own connection (examples/kms_bench.rs, the generated tonic client).
#
# Env: PORTCULLIS_BIN      the binary to run (default: build release into $CARGO_TARGET_DIR or
#                          <repo>/target and run that)
#      BENCH_BACKENDS      "sqlite postgres" (default) or one of them
#      BENCH_PG_URL        an empty-able PostgreSQL database (it is dropped and created again
#                          through the same user's `postgres` database); default
#                          postgresql://portcullis_test:portcullis_test@127.0.0.1:5432/portcullis_tbench?sslmode=disable
#                          (loopback: no TLS, whose cost is not the server's)
#      BENCH_BIG           rows of the big project (default 100000)
#      BENCH_CPU           "1" to print the server's CPU use per route too (and on PostgreSQL the
#                          database server's, summed over its processes)
#      BENCH_PERF_DIR      a folder: `perf record` (cpu-clock) the server during each route into
#                          DIR/<backend>-<n>.data (`perf report -i … --no-children --sort dso,sym`)
#      BENCH_PERF_ARGS     more `perf record` options, e.g. "-g" for call graphs
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DUR="${1:-10}"; CONN="${2:-16}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
PG_URL="${BENCH_PG_URL:-postgresql://portcullis_test:portcullis_test@127.0.0.1:5432/portcullis_tbench?sslmode=disable}"
BIG="${BENCH_BIG:-100000}"
for tool in wrk sqlite3 psql; do
    command -v $tool >/dev/null && continue
    pkg=$tool; [ $tool = psql ] && pkg=postgresql-client
    if [ "$(id -u)" = 0 ]; then apt-get install -y -qq $pkg >/dev/null; else sudo apt-get install -y -qq $pkg >/dev/null; fi
done
if [ -z "${PORTCULLIS_BIN:-}" ]; then
    (cd "$REPO" && cargo build --release --locked -j"${CARGO_BUILD_JOBS:-2}" >/dev/null)
    PORTCULLIS_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/portcullis"
fi
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    set +e   # a server already stopped must not end the clean-up before Keystone's
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    bash "$REPO/scripts/keystone.sh" stop "$WORK/ks" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KSP=$(free_port)
bash "$REPO/scripts/keystone.sh" start "$WORK/ks" "$KSP" >/dev/null
bash "$REPO/scripts/keystone.sh" setup "$WORK/ks" "$KSP" "http://127.0.0.1:9311" >/dev/null
# shellcheck disable=SC1091
. "$WORK/ks/users.env"
printf '1:%s\n' "$(head -c 32 /dev/urandom | base64 -w0)" > "$WORK/master.kek"; chmod 600 "$WORK/master.kek"

token() { # user project
    curl -si -H 'Content-Type: application/json' "$KS_AUTH_URL/auth/tokens?nocatalog" -d "{\"auth\":{\"identity\":{\"methods\":[\"password\"],\"password\":{\"user\":{\"name\":\"$1\",\"domain\":{\"id\":\"default\"},\"password\":\"$KS_USER_PASSWORD\"}}},\"scope\":{\"project\":{\"name\":\"$2\",\"domain\":{\"id\":\"default\"}}}}}" \
        | awk 'tolower($1)=="x-subject-token:" {print $2}' | tr -d '\r'
}
TOKEN=$(token a-member proj-a)   # secure-RBAC defaults: member creates
READER_TOKEN=$(token a-norole proj-b)
PROJECT="$KS_PROJECT_PROJ_A"; ACL_USER="$KS_USER_A_NOROLE"

pg_admin() { # the same user on the server's `postgres` database
    local u="${PG_URL%%\?*}"; echo "${u%/*}/postgres"
}
pg_db() { local u="${PG_URL%%\?*}"; echo "${u##*/}"; }

start() { # backend -> sets BASE, SPID, SQL (a command reading SQL on stdin)
    local backend="$1" port url; port=$(free_port)
    mkdir -p "$WORK/$backend"
    case "$backend" in
        sqlite) url="sqlite://$WORK/$backend/p.db"; SQL=(sqlite3 -bail "$WORK/$backend/p.db") ;;
        postgres)
            PGOPTIONS="--client-min-messages=warning" psql -q -v ON_ERROR_STOP=1 "$(pg_admin)" -c "DROP DATABASE IF EXISTS $(pg_db)" -c "CREATE DATABASE $(pg_db)" >/dev/null
            url="$PG_URL"; SQL=(psql -q -v ON_ERROR_STOP=1 "${PG_URL%%\?*}") ;;
    esac
    cat > "$WORK/$backend/p.toml" <<EOT
[DEFAULT]
host_href = ""
sql_connection = "$url"
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
token_cache_time = 300
EOT
    PORTCULLIS_LOG=warn "$PORTCULLIS_BIN" serve --config "$WORK/$backend/p.toml" --listen "127.0.0.1:$port" >"$WORK/$backend/log" 2>&1 &
    SPID=$!; PIDS+=("$SPID")
    BASE="http://127.0.0.1:$port"
    for _ in $(seq 1 100); do curl -sf "$BASE/healthcheck" >/dev/null && return; sleep 0.2; done
    cat "$WORK/$backend/log" >&2; exit 1
}

seed_big() { # backend: BIG metadata-only rows into the project, 1% shared with ACL_USER
    local t0=1700000000000000
    case "$1" in
        sqlite) "${SQL[@]}" <<EOF
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < $BIG)
INSERT INTO secrets (id, project_id, creator_id, name, secret_type, expiration, algorithm, bit_length, mode, status, created_at, updated_at, deleted_at)
SELECT printf('%08x-b000-4000-8000-%012x', i, i), '$PROJECT', 'seed', 'bench', 'symmetric',
  CASE WHEN i % 50 = 0 THEN 1000000 WHEN i % 7 = 0 THEN 4102444800000000 END,
  'aes', 256, 'cbc', 'ACTIVE', $t0 + i, $t0 + i, CASE WHEN i % 97 = 0 THEN $t0 + i END FROM n;
INSERT INTO acls (id, entity_type, entity_id, operation, project_access, created_at, updated_at)
SELECT 'acl-' || substr(id, 1, 32), 'secret', id, 'read', 1, $t0, $t0 FROM secrets
 WHERE project_id = '$PROJECT' AND creator_id = 'seed' AND deleted_at IS NULL AND rowid % 100 = 0;
INSERT INTO acl_users (id, acl_id, user_id, created_at)
SELECT 'aclu-' || substr(entity_id, 1, 31), id, '$ACL_USER', $t0 FROM acls WHERE id LIKE 'acl-%';
COMMIT;
EOF
        ;;
        postgres) "${SQL[@]}" <<EOF
BEGIN;
INSERT INTO secrets (id, project_id, creator_id, name, secret_type, expiration, algorithm, bit_length, mode, status, created_at, updated_at, deleted_at)
SELECT lpad(to_hex(i), 8, '0') || '-b000-4000-8000-' || lpad(to_hex(i), 12, '0'), '$PROJECT', 'seed', 'bench', 'symmetric',
  CASE WHEN i % 50 = 0 THEN 1000000 WHEN i % 7 = 0 THEN 4102444800000000 END,
  'aes', 256, 'cbc', 'ACTIVE', $t0 + i, $t0 + i, CASE WHEN i % 97 = 0 THEN $t0 + i END FROM generate_series(1, $BIG) i;
INSERT INTO acls (id, entity_type, entity_id, operation, project_access, created_at, updated_at)
SELECT 'acl-' || substr(id, 1, 32), 'secret', id, 'read', true, $t0, $t0 FROM secrets
 WHERE project_id = '$PROJECT' AND creator_id = 'seed' AND deleted_at IS NULL AND created_at % 100 = 1;
INSERT INTO acl_users (id, acl_id, user_id, created_at)
SELECT 'aclu-' || substr(entity_id, 1, 31), id, '$ACL_USER', $t0 FROM acls WHERE id LIKE 'acl-%';
COMMIT;
VACUUM ANALYZE secrets;
VACUUM ANALYZE acls;
VACUUM ANALYZE acl_users;
EOF
        ;;
    esac
}

cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"bench","payload":"c2VjcmV0LWtleS1tYXRlcmlhbA==","payload_content_type":"application/octet-stream","payload_content_encoding":"base64","secret_type":"symmetric","algorithm":"aes","bit_length":256}'
wrk.headers["Content-Type"] = "application/json"
LUA

cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime, in clock ticks
db_cpu() { # the PostgreSQL server's processes (backends and helpers), in clock ticks
    [ "$BACKEND" = postgres ] || { echo 0; return; }
    local t=0 f
    for f in /proc/[0-9]*/stat; do
        read -r -a st < "$f" 2>/dev/null || continue
        [ "${st[1]}" = "(postgres)" ] && t=$((t + st[13] + st[14]))
    done
    echo "$t"
}
TICKS=$(getconf CLK_TCK)
V1=""
run() { # name, wrk args...
    local name="$1"; shift
    local out rps p50 p99 errs frac rss c0 c1 cpu=""
    local perf_pid=""
    if [ -n "${BENCH_PERF_DIR:-}" ]; then
        ROUTE_N=$((ROUTE_N + 1))
        perf record -q -e cpu-clock -F 499 ${BENCH_PERF_ARGS:-} -p "$SPID" -o "$BENCH_PERF_DIR/$BACKEND-$ROUTE_N.data" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 0.3
    fi
    c0=$(cpu_of "$SPID"); d0=$(db_cpu)
    out=$(wrk -t2 -c"$CONN" -d"${DUR}s" --latency "$@" 2>&1)
    c1=$(cpu_of "$SPID"); d1=$(db_cpu)
    if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; fi
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '/ 50%/ {print $2}' <<<"$out")
    p99=$(awk '/ 99%/ {print $2}' <<<"$out")
    errs=$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' | tr '\n' ' ' || true)
    rps_last="$rps"
    [ -z "$V1" ] && V1="$rps"
    frac=$(awk -v a="$rps" -v b="$V1" 'BEGIN { printf "%5.1f%%", 100 * a / b }')
    rss=$(awk '/VmRSS/ {printf "%d MiB", $2 / 1024}' "/proc/$SPID/status")
    [ "${BENCH_CPU:-0}" = 1 ] && rss="$rss $(awk '/RssAnon/ {a=$2} /RssFile/ {f=$2} END {printf "(anon %d file %d)", a / 1024, f / 1024}' "/proc/$SPID/status")"
    if [ "${BENCH_CPU:-0}" = 1 ]; then
        cpu=$(awk -v c="$((c1 - c0))" -v t="$TICKS" -v n="$rps" -v d="$DUR" 'BEGIN { printf "  cpu %4.0f%% %6.0f us/req", 100 * c / t / d, 1e6 * c / t / (n * d) }')
        [ "$BACKEND" = postgres ] && cpu="$cpu$(awk -v c="$((d1 - d0))" -v t="$TICKS" -v n="$rps" -v d="$DUR" 'BEGIN { printf "  db %4.0f%% %5.0f us/req", 100 * c / t / d, 1e6 * c / t / (n * d) }')"
    fi
    printf '%-34s %10s req/s %7s   p50 %8s  p99 %8s   rss %s%s  %s\n' "$name" "$rps" "$frac" "$p50" "$p99" "$rss" "$cpu" "$errs"
}

A=(-H "X-Auth-Token: $TOKEN")

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
post_lua() { # file body
    printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\n' "$2" > "$1"
}
new_key() { # type -> id
    curl -s "${A[@]}" -H 'Content-Type: application/json' -d "{\"name\":\"bench\",\"type\":\"$1\"}" "$BASE/v1/keys" \
        | json_field '["key_ref"].rsplit("/", 1)[1]'
}
keys_suite() {
    local aes hm ec plain ct batch single rps
    aes=$(new_key aes256-gcm); hm=$(new_key hmac-sha256); ec=$(new_key ecdsa-p256)
    plain=$(head -c 64 /dev/urandom | base64 -w0)
    post_lua "$WORK/enc.lua" "{\"plaintext\":\"$plain\"}"
    run "POST encrypt 64 B (aes256-gcm)" "${A[@]}" -s "$WORK/enc.lua" "$BASE/v1/keys/$aes/encrypt"
    single="$rps_last"
    ct=$(curl -s "${A[@]}" -H 'Content-Type: application/json' -d "{\"plaintext\":\"$plain\"}" "$BASE/v1/keys/$aes/encrypt" | json_field '["ciphertext"]')
    post_lua "$WORK/dec.lua" "{\"ciphertext\":\"$ct\"}"
    run "POST decrypt 64 B (aes256-gcm)" "${A[@]}" -s "$WORK/dec.lua" "$BASE/v1/keys/$aes/decrypt"
    post_lua "$WORK/in.lua" "{\"input\":\"$plain\"}"
    run "POST hmac 64 B (hmac-sha256)" "${A[@]}" -s "$WORK/in.lua" "$BASE/v1/keys/$hm/hmac"
    run "POST sign 64 B (ecdsa-p256)" "${A[@]}" -s "$WORK/in.lua" "$BASE/v1/keys/$ec/sign"
    batch=$(python3 -c "import json; print(json.dumps({'batch_input': [{'plaintext': '$plain'}] * 1000}))")
    post_lua "$WORK/batch.lua" "$batch"
    run "POST encrypt batch of 1000 x 64 B" "${A[@]}" -s "$WORK/batch.lua" "$BASE/v1/keys/$aes/encrypt"
    awk -v b="$rps_last" -v s="$single" 'BEGIN { printf "   batch: %.0f items/s, %.1fx the single-item rate per item\n", b * 1000, b * 1000 / s }'
    local kb="${CARGO_TARGET_DIR:-$REPO/target}/release/examples/kms_bench"
    (cd "$REPO" && cargo build --release --locked --example kms_bench -j"${CARGO_BUILD_JOBS:-2}" >/dev/null 2>&1) || { echo "   (KMS v2: kms_bench did not build)"; return; }
    kill -TERM "$SPID"; wait "$SPID" 2>/dev/null || true
    PORTCULLIS_KMS_V2__SOCKET="$WORK/kms.sock" PORTCULLIS_KMS_V2__KEY="$aes" PORTCULLIS_LOG=warn \
        "$PORTCULLIS_BIN" serve --config "$WORK/$BACKEND/p.toml" --listen "127.0.0.1:${BASE##*:}" >>"$WORK/$BACKEND/log" 2>&1 &
    SPID=$!; PIDS+=("$SPID")
    for _ in $(seq 1 100); do [ -S "$WORK/kms.sock" ] && break; sleep 0.1; done
    printf '%-34s ' "KMS v2 (examples/kms_bench)"
    "$kb" "$WORK/kms.sock" "$DUR" 16
}
echo "Portcullis $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null) ($PORTCULLIS_BIN), Keystone token cache on, ${DUR}s x ${CONN} connections, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for backend in $BACKENDS; do
    V1=""; BACKEND="$backend"; ROUTE_N=0
    start "$backend"
    echo "-- $backend"
    ref=$(curl -s "${A[@]}" -H 'Content-Type: application/json' \
          -d '{"name":"bench","payload":"0123456789abcdef0123456789abcdef","payload_content_type":"text/plain"}' \
          "$BASE/v1/secrets")
    case "$ref" in *secret_ref*) ;; *) echo "create failed: $ref" >&2; tail -5 "$WORK/$backend/log" >&2; exit 1 ;; esac
    ref=$(sed 's/.*"secret_ref": *"\([^"]*\)".*/\1/' <<<"$ref")
    id="${ref##*/}"
    curl -sf -o /dev/null -X PUT "${A[@]}" -H 'Content-Type: application/json' \
         -d '{"metadata":{"owner":"bench","purpose":"benchmark"}}' "$BASE/v1/secrets/$id/metadata"
    for i in $(seq 2 10); do
        curl -sf -o /dev/null "${A[@]}" -H 'Content-Type: application/json' -d "{\"name\":\"s$i\"}" "$BASE/v1/secrets"
    done
    run "GET /v1 (auth + framework)" "${A[@]}" "$BASE/v1"
    if [ "${BENCH_SUITE:-secrets}" = keys ]; then
        keys_suite
        awk '/VmHWM/ {printf "   peak RSS (VmHWM) %d MiB\n", $2 / 1024}' "/proc/$SPID/status"
        kill -TERM "$SPID"; wait "$SPID" 2>/dev/null || true
        continue
    fi
    run "GET secret metadata" "${A[@]}" -H 'Accept: application/json' "$BASE/v1/secrets/$id"
    run "GET secret payload" "${A[@]}" -H 'Accept: text/plain' "$BASE/v1/secrets/$id/payload"
    run "GET secret user metadata" "${A[@]}" "$BASE/v1/secrets/$id/metadata"
    run "GET list limit=10 (10 secrets)" "${A[@]}" "$BASE/v1/secrets?limit=10"
    seed_big "$backend"
    total=$(curl -sf "${A[@]}" "$BASE/v1/secrets?limit=1" | sed 's/.*"total": *\([0-9]*\).*/\1/')
    run "GET list limit=10 ($total live)" "${A[@]}" "$BASE/v1/secrets?limit=10"
    run "GET list acl_only limit=10" -H "X-Auth-Token: $READER_TOKEN" "$BASE/v1/secrets?acl_only=true&limit=10"
    run "POST secret (one-step create)" "${A[@]}" -s "$WORK/post.lua" "$BASE/v1/secrets"
    awk '/VmHWM/ {printf "   peak RSS (VmHWM) %d MiB\n", $2 / 1024}' "/proc/$SPID/status"
    kill -TERM "$SPID"; wait "$SPID" 2>/dev/null || true
done
