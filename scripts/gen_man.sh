#!/usr/bin/env bash
# gen_man.sh BIN OUT - writes the manual page ragd.1 from the binary's own help
# texts, so it never drifts from the program: the synopsis from `ragd --help`,
# one section per command from `ragd <command> --help`, the settings table
# (flag, environment variable, meaning, default) as tagged paragraphs. Defaults
# are shown for a HOME of "~" (not the home of whoever builds the package).
set -euo pipefail
bin=$1 out=$2

help() { env -u XDG_DATA_HOME -u RAGD_MODEL_CACHE HOME='~' "$bin" "$@" 2>&1 || true; }
# roff: backslashes, hyphens that must stay ASCII, lines that start with . or '
esc() { sed -e 's/\\/\\e/g' -e 's/-/\\-/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }

version=$("$bin" --version | awk '{print $2}')
main=$(help --help)
{
    echo ".TH RAGD 1 \"\" \"ragd $version\" \"User Commands\""
    echo ".SH NAME"
    echo "ragd \\- $(printf '%s\n' "$main" | head -n 1 | sed 's/^[^-]*- //' | esc)"
    echo ".SH SYNOPSIS"
    echo ".nf"
    printf '%s\n' "$main" | sed -n '/^Usage:/,/^$/p' | sed '1d;/^$/d' | esc
    echo ".fi"
    echo ".SH DESCRIPTION"
    echo "ragd caches LLM calls and embeddings, serves hybrid retrieval for RAG and keeps"
    echo "per-user state, on an embedded store (LMDB) or on Redis. It never downloads"
    echo "anything at run time: the embedding model is read from \\fBmodel_dir\\fR."
    echo ".SH COMMANDS"
    for cmd in serve config ingest completion; do
        echo ".SS \"ragd $cmd\""
        echo ".nf"
        help "$cmd" --help | sed '/^Settings (/,$d' | esc
        echo ".fi"
    done
    echo ".SH SETTINGS"
    printf '%s\n' "$main" | grep '^Settings (' | esc
    echo ".PP"
    echo "Each setting is also a key of the config file (see \\fBragd config \\-\\-example\\fR)."
    # rows: "  FLAG  ENV  meaning [default: X]" or "  ENV  meaning ..." (no flag)
    printf '%s\n' "$main" | sed -n '/^Settings (/,$p' | sed '1d' | esc | awk '
        { sub(/^ +/, ""); n = split($0, f, /  +/) }
        n >= 3 { print ".TP"; print "\\fB" f[1] "\\fR, \\fB" f[2] "\\fR"; print f[3]; next }
        n == 2 { print ".TP"; print "\\fB" f[1] "\\fR"; print f[2] }'
    cat <<'ROFF'
.SH FILES
.TP
.I /etc/ragd/ragd.conf
the config file of the packaged service (JSON with // comments); an example
with every setting is \fIragd.conf.example\fR (from \fBragd config \-\-example\fR)
.TP
.I /etc/default/ragd
environment of the packaged service (RAGD_* variables, secrets)
.TP
.I ~/.local/share/ragd
default data directory of the embedded store (the service uses /var/lib/ragd)
.TP
.I ~/.cache/ragd/models/all\-MiniLM\-L6\-v2
default embedding model directory
.SH SEE ALSO
The documents under docs/ in the source tree (CONFIGURATION.md, OPERATIONS.md,
API.md); the server's own \fB/docs\fR and \fB/openapi.json\fR.
ROFF
} > "$out.tmp"
mv "$out.tmp" "$out"
