#!/usr/bin/env bash
# Benchmark (not a test) of the managed-key operations and KMS v2 Decrypt: scripts/bench_matrix.sh
# with BENCH_SUITE=keys (see its header for the environment it takes).
#   scripts/bench_keys.sh [seconds] [connections]
exec env BENCH_SUITE=keys bash "$(dirname "${BASH_SOURCE[0]}")/bench_matrix.sh" "$@"
