#!/usr/bin/env bash
# Benchmark (not a test): throughput of the hot routes of a release build in --dev mode
# (SQLite, noauth) on loopback, measured with wrk. Usage: scripts/bench.sh [seconds] [connections]
# (scripts/bench_matrix.sh: the same behind Keystone, on SQLite and PostgreSQL, with a big project.)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DUR="${1:-10}"; CONN="${2:-32}"
command -v wrk >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null; }
cd "$REPO" && cargo build --release --locked -j"${CARGO_BUILD_JOBS:-2}" >/dev/null
WORK="$(mktemp -d)"; PORT=19399; BASE="http://127.0.0.1:$PORT"
( cd "$WORK" && PORTCULLIS_LOG=warn exec "$REPO/target/release/portcullis" serve --dev --listen "127.0.0.1:$PORT" ) >"$WORK/log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 50); do curl -sf "$BASE/healthcheck" >/dev/null && break; sleep 0.2; done
H=(-H 'X-Project-Id: bench' -H 'X-User-Id: bench-user')
ref=$(curl -sf "${H[@]}" -H 'Content-Type: application/json' \
      -d '{"name":"bench","payload":"0123456789abcdef0123456789abcdef","payload_content_type":"text/plain"}' \
      "$BASE/v1/secrets" | sed 's/.*"secret_ref": *"\([^"]*\)".*/\1/')
id="${ref##*/}"
cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name":"bench","payload":"c2VjcmV0LWtleS1tYXRlcmlhbA==","payload_content_type":"application/octet-stream","payload_content_encoding":"base64","secret_type":"symmetric","algorithm":"aes","bit_length":256}'
wrk.headers["Content-Type"] = "application/json"
LUA
run() { # name, wrk args...
    local name="$1"; shift
    local out rps p99 errs
    out=$(wrk -t2 -c"$CONN" -d"${DUR}s" --latency "$@" 2>&1)
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '/ 99%/ {print $2}' <<<"$out")
    errs=$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr -s ' ' || true)
    printf '%-28s %10s req/s   p99 %8s  %s\n' "$name" "$rps" "$p99" "$errs"
}
echo "Portcullis $(git -C "$REPO" rev-parse --short HEAD) release, SQLite, noauth, ${DUR}s x ${CONN} connections, $(nproc) cores"
run "GET /v1 (version)" "${H[@]}" "$BASE/v1"
run "GET secret metadata" "${H[@]}" -H 'Accept: application/json' "$BASE/v1/secrets/$id"
run "GET secret payload" "${H[@]}" -H 'Accept: text/plain' "$BASE/v1/secrets/$id/payload"
run "GET secrets list (10)" "${H[@]}" "$BASE/v1/secrets?limit=10"
run "POST secret (create)" "${H[@]}" -s "$WORK/post.lua" "$BASE/v1/secrets"
