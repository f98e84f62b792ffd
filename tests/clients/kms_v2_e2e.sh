#!/usr/bin/env bash
# The KMS v2 endpoint end to end: the real binary with [kms_v2] backed by a managed key made
# through /v1/keys, driven by the grpcio client (tests/clients/kms_v2.py) as kube-apiserver
# would: Status, round trips, an unknown key id, a tampered ciphertext, a ciphertext of another
# key (a second server with its own key), rotation, and the server restarted between encrypt
# and decrypt.
#   tests/clients/kms_v2_e2e.sh PORTCULLIS_BIN PYTHON
set -euo pipefail
BIN="$(realpath "$1")"; PY="$2"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLIENT="$REPO/tests/clients/kms_v2.py"
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail() { echo "kms_v2_e2e: $*" >&2; for d in "$WORK"/*/; do tail -5 "$d/log" >&2 || true; done; exit 1; }

serve() { # name port [key]  -> starts a dev server in $WORK/name (KMS socket when key given)
    local name="$1" port="$2" key="${3:-}"
    mkdir -p "$WORK/$name"
    local env=()
    [ -n "$key" ] && env=(PORTCULLIS_KMS_V2__SOCKET="$WORK/$name/kms.sock" PORTCULLIS_KMS_V2__KEY="$key")
    (cd "$WORK/$name" && exec env "${env[@]}" "$BIN" serve --dev --listen "127.0.0.1:$port") >>"$WORK/$name/log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthcheck" >/dev/null && break; sleep 0.1; done
    if [ -n "$key" ]; then
        for _ in $(seq 1 50); do [ -S "$WORK/$name/kms.sock" ] && break; sleep 0.1; done
        [ -S "$WORK/$name/kms.sock" ] || fail "$name: no KMS socket"
        [ "$(stat -c %a "$WORK/$name/kms.sock")" = 600 ] || fail "$name: socket mode is not 0600"
    fi
}
stop_last() { local p="${PIDS[-1]}"; kill -TERM "$p"; wait "$p" || true; unset 'PIDS[-1]'; }
make_key() { # port -> key id
    curl -sf -H 'X-Project-Id: k8s' -H 'Content-Type: application/json' \
         -d '{"name": "kube-apiserver", "type": "aes256-gcm"}' "http://127.0.0.1:$1/v1/keys" \
        | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["key_ref"].rsplit("/",1)[1])'
}

PA=$(free_port); PB=$(free_port)
serve a "$PA"; KA=$(make_key "$PA"); stop_last
serve b "$PB"; KB=$(make_key "$PB"); stop_last
# A [kms_v2] key that does not exist refuses to start, and says why.
if (cd "$WORK/a" && PORTCULLIS_KMS_V2__SOCKET="$WORK/a/x.sock" PORTCULLIS_KMS_V2__KEY="$(cat /proc/sys/kernel/random/uuid)" \
        timeout 20 "$BIN" serve --dev --listen "127.0.0.1:$PA") >"$WORK/missing.log" 2>&1; then
    fail "started with a missing [kms_v2] key"
fi
grep -q "no such managed key" "$WORK/missing.log" || fail "missing key: $(tail -2 "$WORK/missing.log")"
serve b "$PB" "$KB"
serve a "$PA" "$KA"
SA="$WORK/a/kms.sock"; SB="$WORK/b/kms.sock"

"$PY" "$CLIENT" check "$SA" --other "$SB"
KID1=$("$PY" "$CLIENT" status "$SA" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["key_id"])')
"$PY" "$CLIENT" encrypt "$SA" "$WORK/saved.json"
# Rotate through the API, then restart the server between encrypt and decrypt.
curl -sf -X POST -H 'X-Project-Id: k8s' "http://127.0.0.1:$PA/v1/keys/$KA/rotate" >/dev/null || fail "rotate"
stop_last
serve a "$PA" "$KA"
KID2=$("$PY" "$CLIENT" status "$SA" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["key_id"])')
[ "$KID1" != "$KID2" ] || fail "the key id did not change on rotation"
"$PY" "$CLIENT" decrypt "$SA" "$WORK/saved.json" --expect-stale
# Another key's plugin refuses the saved ciphertext.
if "$PY" "$CLIENT" decrypt "$SB" "$WORK/saved.json" 2>"$WORK/other.err"; then fail "another key decrypted it"; fi
grep -q INVALID_ARGUMENT "$WORK/other.err" || fail "another key: $(cat "$WORK/other.err")"
# Version 1 retired: its key id is unknown now.
curl -sf -X PUT -H 'X-Project-Id: k8s' -H 'Content-Type: application/json' -d '{"min_decryption_version": 2}' \
     "http://127.0.0.1:$PA/v1/keys/$KA" >/dev/null || fail "retire"
if "$PY" "$CLIENT" decrypt "$SA" "$WORK/saved.json" 2>"$WORK/retired.err"; then fail "a retired version decrypted"; fi
grep -q INVALID_ARGUMENT "$WORK/retired.err" || fail "retired: $(cat "$WORK/retired.err")"
"$PY" "$CLIENT" check "$SA"
echo "kms_v2_e2e: all checks passed"
