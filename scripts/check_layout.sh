#!/usr/bin/env bash
# check_layout.sh - structural rules the compiler cannot see: module headers
# outside src/app/ take their own *_opts, never the global configuration, so
# none of them may include app/config.h. Prints each offender; exit 1 if any.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(grep -rln --include='*.h' '#include *"app/config.h"' src | grep -v '^src/app/' || true)
if [ -n "$bad" ]; then
    echo "check_layout: these headers outside src/app/ include app/config.h" \
         "(give the module its own *_opts filled by app.c):" >&2
    echo "$bad" >&2
    exit 1
fi
echo "check_layout: ok"
