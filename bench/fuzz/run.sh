#!/usr/bin/env bash
# run.sh - the fuzzing figures: builds build-fuzz/ and runs every libFuzzer
# harness (or the ones named) for FUZZ_SECONDS each (default 300), printing one
# line per harness: executions, executions per second, coverage (edges),
# features and corpus size. Regression inputs are replayed first.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec scripts/fuzz.sh run "${FUZZ_SECONDS:-300}" "$@"
