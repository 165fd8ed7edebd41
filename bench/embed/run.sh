#!/usr/bin/env bash
# run.sh - embeddings benchmark in one run: ragd (in-process C driver), onnxruntime
# on an ONNX export of the same model, and sentence-transformers on PyTorch CPU.
# Prepares .venv-bench from bench/requirements-embed.txt (once), builds the
# release tree, then runs run.py. Extra arguments go to run.py (--url BASE to add
# HTTP latency against a running ragd, --seconds N per measurement).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.venv-bench
REQ=bench/requirements-embed.txt
stamp="$VENV/.req-embed-$(sha256sum "$REQ" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -r "$REQ"
    rm -f "$VENV"/.req-embed-*
    touch "$stamp"
fi
scripts/fetch_model.sh
make build >/dev/null
exec "$VENV/bin/python" bench/embed/run.py "$@"
