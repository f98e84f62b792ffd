#!/usr/bin/env bash
# Benchmark (not a test) of the TPM master-KEK provider on swtpm:
#  1. time from `portcullis serve` to its first answer (GET /v1/secrets: 200), tpm vs file provider;
#  2. master-KEK rotation speed in project KEKs per second.
# Usage: scripts/bench_tpm.sh [project-keks] [starts]      (defaults: 20000, 5)
# PROFILE=debug uses the debug build instead of release.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NKEKS="${1:-20000}"; STARTS="${2:-5}"; PROFILE="${PROFILE:-release}"
command -v wrk >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null || sudo apt-get install -y -qq wrk >/dev/null; }
cd "$REPO"
if [ "$PROFILE" = release ]; then cargo build --release --locked -j"${CARGO_BUILD_JOBS:-2}" >/dev/null; else cargo build --locked -j"${CARGO_BUILD_JOBS:-2}" >/dev/null; fi
BIN="$REPO/target/$PROFILE/portcullis"
WORK="$(mktemp -d)"; TPORT=19421; PORT=19499; BASE="http://127.0.0.1:$PORT"
SRV=""
cleanup() {
    [ -n "$SRV" ] && kill -TERM "$SRV" 2>/dev/null && wait "$SRV" 2>/dev/null || true
    bash "$REPO/scripts/swtpm.sh" stop "$WORK/swtpm" "$TPORT" >/dev/null 2>&1 || true
    [ -n "${KEEP:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
for p in "$PORT" "$TPORT" "$((TPORT + 1))"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "port $p is in use; stop what listens there" >&2; exit 1; fi
done
TCTI="$(bash "$REPO/scripts/swtpm.sh" start "$WORK/swtpm" "$TPORT")"

config() { # provider
    cat <<EOF
[DEFAULT]
sql_connection = "sqlite://$WORK/bench.db"
host_href = ""
[auth]
strategy = "noauth"
[kek]
provider = "$1"
tcti = "$TCTI"
sealed_dir = "$WORK/kek"
file_path = "$WORK/dev-master.kek"
EOF
}
config tpm > "$WORK/tpm.toml"; config file > "$WORK/file.toml"
export PORTCULLIS_LOG=warn
"$BIN" kek init -c "$WORK/tpm.toml" >/dev/null
"$BIN" kek init -c "$WORK/file.toml" >/dev/null
"$BIN" db upgrade -c "$WORK/tpm.toml" >/dev/null

now_ms() { date +%s%3N; }
start_once() { # config -> ms to the first 200 on /v1
    local t0 t1
    t0=$(now_ms)
    "$BIN" serve -c "$1" --listen "127.0.0.1:$PORT" >>"$WORK/serve.log" 2>&1 &
    SRV=$!
    until curl -sf -o /dev/null -H "X-Project-Id: bench" "$BASE/v1/secrets"; do
        kill -0 "$SRV" 2>/dev/null || { echo "server died:"; tail -5 "$WORK/serve.log"; exit 1; }
        sleep 0.002
    done
    t1=$(now_ms)
    kill -TERM "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=""
    echo $((t1 - t0))
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "Portcullis $(git -C "$REPO" rev-parse --short HEAD) $PROFILE, $(swtpm --version 2>/dev/null | head -1), $(nproc) cores"
for p in tpm file; do
    times=$(for _ in $(seq 1 "$STARTS"); do start_once "$WORK/$p.toml"; done)
    printf 'start to first answer, %-4s provider: median %4s ms  (runs: %s)\n' "$p" "$(echo "$times" | median)" "$(echo $times)"
done

# Project KEKs: one secret in each of NKEKS projects, created over HTTP (each makes its project KEK).
"$BIN" serve -c "$WORK/tpm.toml" --listen "127.0.0.1:$PORT" >>"$WORK/serve.log" 2>&1 &
SRV=$!
until curl -sf -o /dev/null -H "X-Project-Id: bench" "$BASE/v1/secrets"; do kill -0 "$SRV" 2>/dev/null || { tail -5 "$WORK/serve.log"; exit 1; }; sleep 0.01; done
cat > "$WORK/fill.lua" <<'LUA'
local n, prefix = 0, nil
init = function(args) prefix = string.gsub(tostring({}), "[^%x]", "") .. os.time() end
request = function()
    n = n + 1
    return wrk.format("POST", "/v1/secrets",
        {["X-Project-Id"] = "bench-" .. prefix .. "-" .. n, ["Content-Type"] = "application/json"},
        '{"payload":"bench","payload_content_type":"text/plain"}')
end
LUA
t0=$(now_ms)
while :; do
    have=$(sqlite3 "$WORK/bench.db" "select count(*) from project_keks")
    [ "$have" -ge "$NKEKS" ] && break
    wrk -t2 -c16 -d3s -s "$WORK/fill.lua" "$BASE" >/dev/null 2>&1
done
echo "fixtures: $have project KEKs (one secret each) in $(( ($(now_ms) - t0) / 1000 ))s"

# Rotation with the server running (it keeps serving; the CLI is another process).
for batch in 500 2000; do
    out=$("$BIN" kek rotate -c "$WORK/tpm.toml" --batch-size "$batch" 2>/dev/null)
    echo "rotation, batch $batch: $out"
done
status=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Project-Id: bench-after' "$BASE/v1/secrets")
echo "server still answering after the rotations: HTTP $status"
