#!/usr/bin/env bash
# Runs the service on its embedded defaults (--dev: SQLite and a development master KEK under
# ./data, no authentication, 127.0.0.1:9311 only), installing the build libraries first if
# they are missing. Extra arguments go to `portcullis serve`, e.g. --listen 127.0.0.1:9312.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$REPO/scripts/deps.sh" --build
cd "$REPO"
exec cargo run --release --locked -j"${CARGO_BUILD_JOBS:-2}" -- serve --dev "$@"
