#!/usr/bin/env bash
# test.sh - runs ragd's tests: C unit tests (ctest, sanitizer build) with a real
# redis-server started on a free loopback port, then the end-to-end suite (pytest)
# against the release binary. `scripts/test.sh unit|e2e` runs one part; the unit
# part also runs scripts/check_layout.sh (structural rules) and
# scripts/check_layers.py (calls between source files run one way).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
ROOT=$(pwd)

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

tmp=$(mktemp -d)
redis_pid=""
cleanup() { [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

rc=0
if [ "$what" = all ] || [ "$what" = unit ]; then
    scripts/check_layout.sh || rc=1
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$tmp" --daemonize no >"$tmp/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    export RAGD_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
    export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
    (cd build-debug && ctest --output-on-failure -j 2) || rc=1
    python3 scripts/check_layers.py build-debug || rc=1  # calls between files run one way
    kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null || true; redis_pid=""
fi
if [ "$what" = all ] || [ "$what" = e2e ]; then
    if ls tests/e2e/test_*.py >/dev/null 2>&1; then
        RAGD_BIN="$ROOT/build/ragd" .venv/bin/python -m pytest -q --rootdir "$ROOT" tests/e2e tests/bench_data clients/python/tests || rc=1
    fi
fi
exit $rc
