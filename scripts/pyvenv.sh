#!/usr/bin/env bash
# Create (if missing) the Python venv used by the client tests and install the
# pinned packages from scripts/requirements-clients.txt when that file changed.
# Usage: scripts/pyvenv.sh            -> prints nothing on success
#        VENV=$(scripts/pyvenv.sh --print-path)   (prints the venv path)
# Env:   PORTCULLIS_VENV  venv location (default: <repo>/.venv)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PORTCULLIS_VENV:-$REPO/.venv}"
REQ="$REPO/scripts/requirements-clients.txt"
STAMP="$VENV/.requirements-clients.sha256"

if [ ! -x "$VENV/bin/python" ]; then
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
        rm -rf "$VENV"
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$VENV"
        else
            echo "pyvenv.sh: 'python3 -m venv' failed; install python3-venv" >&2
            exit 1
        fi
    fi
fi

want="$(sha256sum "$REQ" | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    PIP_ROOT_USER_ACTION=ignore "$VENV/bin/python" -m pip install -q \
        --disable-pip-version-check -r "$REQ"
    echo "$want" > "$STAMP"
fi

if [ "${1:-}" = "--print-path" ]; then
    echo "$VENV"
fi
