#!/usr/bin/env bash
# test.sh - runs ragd's tests: C unit tests (ctest, sanitizer build) with a real
# redis-server started on a free loopback port, the concurrency tests again under
# ThreadSanitizer (build-tsan/), every fuzz harness for FUZZ_SECONDS (default 10)
# after replaying its regression inputs (build-fuzz/, scripts/fuzz.sh), then the
# end-to-end suite (pytest) against the release binary.
# `scripts/test.sh unit|tsan|fuzz|e2e` runs one part; `scripts/test.sh cluster`
# (not part of "all") runs the Redis Cluster matrix: every feature's e2e suite
# against a 3-master cluster (RAGD_TEST_CLUSTER=1, the [cluster] cases) plus
# tests/e2e/test_cluster.py (reshard and failover under load). The unit part also runs
# scripts/check_layout.sh (structural rules) and scripts/check_layers.py (calls
# between source files run one way).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
ROOT=$(pwd)

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

tmp=$(mktemp -d)
redis_pid=""
cleanup() { [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# The unit tests that run threads against shared structures; they run again
# under ThreadSanitizer (HNSW, BM25, knowledge bases, the model scheduler, the
# stores, rate limits, the compute pool, the HTTP server and its streams, and
# the tokenizer/analyzer tables shared by threads, the Sentinel watcher beside the
# connection pool, the Cluster router's slot map and node pools, the semantic cache
# index, the ingestion job workers, the change-log followers).
TSAN_TESTS="test_memtrim test_hnsw test_bm25 test_kb test_embed_sched test_store_lmdb test_store_redis
test_ratelimit_store test_analyzer test_tokenizer test_cache test_http_inproc test_threadpool
test_stream test_server test_redis_sentinel test_redis_cluster test_sem_index test_sem_log test_jobs test_repl
test_kb_repl"

# The Redis Cluster matrix (scripts/test.sh cluster): each feature's suite.
CLUSTER_MATRIX="tests/e2e/test_cache_api.py tests/e2e/test_kb.py tests/e2e/test_kb_vectors.py
tests/e2e/test_search.py tests/e2e/test_rag.py tests/e2e/test_gateway.py tests/e2e/test_gateway_semantic.py
tests/e2e/test_isolation.py tests/e2e/test_sessions.py tests/e2e/test_ratelimit.py tests/e2e/test_auth.py
tests/e2e/test_jobs.py tests/e2e/test_seed_flows.py tests/e2e/test_embeddings.py tests/e2e/test_cluster.py"

start_redis() {
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$tmp" --daemonize no >"$tmp/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    export RAGD_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
}

# Print the SKIP lines of a ctest run (testing.h), so skipped parts are seen.
report_skips() {
    local log=$1/Testing/Temporary/LastTest.log
    [ -f "$log" ] || return 0
    local n
    n=$(grep -c '^SKIP ' "$log" || true)
    [ "$n" = 0 ] && return 0
    echo "$n test parts SKIPPED (not passed):"
    grep '^SKIP ' "$log" | sed 's/^/  /'
}

# Gateway flights have no unit test with threads: their e2e tests run against the
# TSAN-built binary, which writes any report to $tmp/tsan.* (a report fails the
# step). Timing-bound tests (fifty_identical: one 0.3 s call for 50 callers) are
# left out: TSAN slows ragd enough to split the flight. warm_up is in: TSAN found
# a lock-order inversion there (a flight delivered to its sinks under its own
# lock, and warm-up's completion started new calls that take the table lock).
TSAN_E2E="single_flight or two_hundred_concurrent or no_cross_user_leak or global_scope or warm_up"
tsan_e2e() {
    cmake --build build-tsan -j "${JOBS:-2}" --target ragd >/dev/null
    rm -f "$tmp"/tsan.*
    TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 log_path=$tmp/tsan" \
        RAGD_BIN="$ROOT/build-tsan/ragd" .venv/bin/python -m pytest -q tests/e2e/test_gateway.py \
        -k "$TSAN_E2E" || return 1
    if compgen -G "$tmp/tsan.*" >/dev/null; then
        echo "ThreadSanitizer reports from ragd during the gateway tests:" >&2
        cat "$tmp"/tsan.* >&2
        return 1
    fi
}

rc=0
if [ "$what" = all ] || [ "$what" = unit ] || [ "$what" = tsan ]; then
    start_redis
fi
if [ "$what" = all ] || [ "$what" = unit ]; then
    scripts/check_layout.sh || rc=1
    export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
    (cd build-debug && ctest --output-on-failure -j 2) || rc=1
    python3 scripts/check_layers.py build-debug || rc=1  # calls between files run one way
    report_skips build-debug
fi
if [ "$what" = all ] || [ "$what" = tsan ]; then
    cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DRAGD_TSAN=ON >/dev/null
    # shellcheck disable=SC2086
    cmake --build build-tsan -j "${JOBS:-2}" --target $TSAN_TESTS >/dev/null
    regex="^($(echo $TSAN_TESTS | tr ' ' '|'))\$"
    (cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
        ctest --output-on-failure -j 2 -R "$regex") || rc=1
    tsan_e2e || rc=1
fi
if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null; wait "$redis_pid" 2>/dev/null || true; redis_pid=""
fi
if [ "$what" = all ] || [ "$what" = fuzz ]; then
    FUZZ_SEED=${FUZZ_SEED:-1} scripts/fuzz.sh run "${FUZZ_SECONDS:-10}" || rc=1
fi
if [ "$what" = cluster ]; then
    # shellcheck disable=SC2086
    RAGD_TEST_CLUSTER=1 RAGD_BIN="$ROOT/build/ragd" .venv/bin/python -m pytest -q --rootdir "$ROOT" \
        -k "cluster" $CLUSTER_MATRIX || rc=1
fi
if [ "$what" = all ] || [ "$what" = e2e ]; then
    if ls tests/e2e/test_*.py >/dev/null 2>&1; then
        RAGD_BIN="$ROOT/build/ragd" .venv/bin/python -m pytest -q --rootdir "$ROOT" tests/e2e tests/bench_data clients/python/tests || rc=1
    fi
fi
exit $rc
