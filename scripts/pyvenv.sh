#!/usr/bin/env bash
# Create (if missing) a Python venv and install pinned packages from a requirements file when
# that file changed (a sha256 stamp inside the venv remembers what was installed).
# Usage: scripts/pyvenv.sh                         -> the client venv; prints nothing on success
#        VENV=$(scripts/pyvenv.sh --print-path)    (prints the venv path)
#        scripts/pyvenv.sh [--print-path] REQUIREMENTS [VENV]
#            any requirements file and venv; VENV defaults to <repo>/.venv-<name>, where
#            <name> is REQUIREMENTS' basename less "requirements-" and ".txt"
#            (scripts/requirements-openstack.txt -> $PORTCULLIS_OS_VENV or <repo>/.venv-openstack)
# Env:   PORTCULLIS_VENV     default venv location (default: <repo>/.venv)
#        PORTCULLIS_OS_VENV  venv for requirements-openstack.txt (default: <repo>/.venv-openstack)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

PRINT=0
ARGS=()
for a in "$@"; do
    case "$a" in
        --print-path) PRINT=1 ;;
        -*) echo "pyvenv.sh: unknown option $a" >&2; exit 2 ;;
        *) ARGS+=("$a") ;;
    esac
done

if [ "${#ARGS[@]}" -eq 0 ]; then
    REQ="$REPO/scripts/requirements-clients.txt"
    VENV="${PORTCULLIS_VENV:-$REPO/.venv}"
else
    REQ="$(cd "$(dirname "${ARGS[0]}")" && pwd)/$(basename "${ARGS[0]}")"
    name="$(basename "$REQ" .txt)"
    name="${name#requirements-}"
    if [ "${#ARGS[@]}" -ge 2 ]; then
        VENV="${ARGS[1]}"
    elif [ "$name" = openstack ]; then
        VENV="${PORTCULLIS_OS_VENV:-$REPO/.venv-openstack}"
    elif [ "$name" = clients ]; then
        VENV="${PORTCULLIS_VENV:-$REPO/.venv}"
    else
        VENV="$REPO/.venv-$name"
    fi
fi
[ -f "$REQ" ] || { echo "pyvenv.sh: no requirements file $REQ" >&2; exit 2; }
STAMP="$VENV/.$(basename "$REQ" .txt).sha256"

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

if [ "$PRINT" = 1 ]; then
    echo "$VENV"
fi
