#!/usr/bin/env bash
# setup.sh - installs what ragd needs on Debian 12 and is quick when all is there:
# the -dev packages and debhelper for `make deb` (apt-get, only those missing), a Python venv for tests and
# benchmarks (re-installed only when requirements change), and the model weights.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="build-essential cmake pkg-config python3-venv redis-server
liblmdb-dev libhiredis-dev libcurl4-openssl-dev libzstd-dev
libopenblas-dev libutf8proc-dev libstemmer-dev libjwt-dev libcjson-dev libssl-dev
clang-14 libclang-rt-14-dev
debhelper prometheus chromium"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# Python venv for tests and benchmarks (never used by ragd itself).
VENV=.venv
REQ=tests/requirements.txt
stamp="$VENV/.req-$(sha256sum "$REQ" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "setup: preparing Python venv in $VENV"
    [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -r "$REQ"
    rm -f "$VENV"/.req-*
    touch "$stamp"
fi

# Model weights, fetched once into the user's cache (never at run time).
if [ -x scripts/fetch_model.sh ]; then
    scripts/fetch_model.sh
fi

# The test cross-encoder (MiniLM's encoder + the committed fixed-seed head) that
# the re-ranking tests check against transformers' scores; quick when present.
python3 tests/fixtures/make_rerank_model.py
