#!/usr/bin/env bash
# make_deb.sh BUILD OUT - `make deb`: builds the ragd Debian package with
# dpkg-buildpackage (debian/) from the release build in BUILD (already
# configured and built: only the binary and its generated files are brought up
# to date) and puts the .deb, .buildinfo and .changes in OUT, never beside the
# source tree. A plain `dpkg-buildpackage -b` compiles its own build instead.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "$1")
out=$(mkdir -p "$2" && realpath "$2")
rm -f "$out"/ragd_* "$out"/ragd-dbgsym_*
RAGD_REUSE_BUILD="$build" RAGD_DEB_OUT="$out" DEB_BUILD_OPTIONS="parallel=${JOBS:-2} nocheck" \
    dpkg-buildpackage -b -us -uc --buildinfo-option="-u$out" --changes-option="-u$out" \
    --buildinfo-file="$out/ragd.buildinfo" --changes-file="$out/ragd.changes" >"$out/build.log" 2>&1 ||
    { tail -n 40 "$out/build.log" >&2; exit 1; }
ls "$out"/ragd_*.deb
