#!/usr/bin/env bash
# fuzz.sh - builds and runs ragd's libFuzzer harnesses (tests/fuzz/fuzz_*.c) in
# build-fuzz/ (clang, -DRAGD_FUZZ=ON: libFuzzer + ASan + UBSan).
#   scripts/fuzz.sh build                       configure and build
#   scripts/fuzz.sh replay [harness...]         run every regression input once
#   scripts/fuzz.sh run [SECONDS] [harness...]  replay, then fuzz each harness for
#                                               SECONDS (default $FUZZ_SECONDS or 300)
# Each harness starts from its seed corpus (tests/fuzz/corpus/<h>/) and the
# inputs earlier runs found (build-fuzz/corpus/<h>/, kept between runs); with
# FUZZ_SEED set it starts from the seed corpus alone with that libFuzzer seed, so
# a run repeats what an earlier run on the same commit did (make test does so). One
# line per harness reports executions, coverage and corpus size. A crash fails
# the run; its input is saved in build-fuzz/crashes/<h>/ - once fixed, copy it to
# tests/fuzz/regressions/<h>/ so every later run replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
B=build-fuzz
CC_FUZZ=${CC_FUZZ:-clang-14}
what=${1:-run}
[ $# -gt 0 ] && shift

harnesses() {
    if [ $# -gt 0 ]; then echo "$@"; return; fi
    for f in tests/fuzz/fuzz_*.c; do basename "$f" .c | sed 's/^fuzz_//'; done
}

build() {
    CC=$CC_FUZZ cmake -S . -B $B -DCMAKE_BUILD_TYPE=Debug -DRAGD_FUZZ=ON >/dev/null
    cmake --build $B -j "${JOBS:-2}" >/dev/null
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

replay() {  # replay HARNESS: every file of tests/fuzz/regressions/HARNESS once
    local h=$1 dir=tests/fuzz/regressions/$1
    compgen -G "$dir/*" >/dev/null || return 0
    if ! "$B/fuzz_$h" -runs=1 "$dir"/* >"$B/logs/$h.replay.log" 2>&1; then
        echo "fuzz: $h: a regression input crashes again (log: $B/logs/$h.replay.log)" >&2
        tail -30 "$B/logs/$h.replay.log" >&2
        return 1
    fi
}

fuzz() {  # fuzz HARNESS SECONDS
    local h=$1 secs=$2 log=$B/logs/$1.log
    local corpus=$B/corpus/$h seed=()
    if [ -n "${FUZZ_SEED:-}" ]; then  # reproducible: a fixed seed from the seed corpus alone
        corpus=$B/corpus-fresh/$h
        rm -rf "$corpus"
        seed=(-seed="$FUZZ_SEED")
    fi
    mkdir -p "$corpus" "$B/crashes/$h"
    local rc=0
    "$B/fuzz_$h" "${seed[@]}" -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$B/crashes/$h/" "$corpus" "tests/fuzz/corpus/$h" \
        >"$log" 2>&1 || rc=$?
    local done_line runs cov ft corp
    done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|NEW|REDUCE|pulse)' "$log" | tail -1 || true)
    runs=$(grep -oE '^stat::number_of_executed_units: [0-9]+' "$log" | awk '{print $2}' || true)
    cov=$(echo "$done_line" | grep -oE 'cov: [0-9]+' | awk '{print $2}' || true)
    ft=$(echo "$done_line" | grep -oE 'ft: [0-9]+' | awk '{print $2}' || true)
    corp=$(echo "$done_line" | grep -oE 'corp: [0-9]+' | awk '{print $2}' || true)
    printf '%-14s %10s execs %8s execs/s  cov %6s  ft %6s  corpus %6s  %s\n' "$h" "${runs:-?}" \
        "$(( ${runs:-0} / (secs > 0 ? secs : 1) ))" "${cov:-?}" "${ft:-?}" "${corp:-?}" \
        "$([ $rc = 0 ] && echo ok || echo CRASH)"
    if [ $rc != 0 ]; then
        grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 >&2
        echo "fuzz: $h crashed (log: $log); the input is in $B/crashes/$h/" >&2
        return 1
    fi
}

case "$what" in
build) build ;;
replay | run)
    secs=${FUZZ_SECONDS:-300}
    if [ "$what" = run ] && [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then secs=$1; shift; fi
    build  # incremental: quick when nothing changed
    mkdir -p $B/logs
    rc=0
    for h in $(harnesses "$@"); do replay "$h" || rc=1; done
    if [ "$what" = run ]; then
        echo "fuzzing each harness for ${secs}s (libFuzzer, ASan+UBSan)"
        for h in $(harnesses "$@"); do fuzz "$h" "$secs" || rc=1; done
    fi
    exit $rc ;;
*) echo "usage: scripts/fuzz.sh build | replay [harness...] | run [SECONDS] [harness...]" >&2; exit 2 ;;
esac
