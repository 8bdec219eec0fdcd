#!/usr/bin/env bash
# Creates (once per machine, again when scripts/python/requirements.txt
# changes) a virtual environment with the pinned Python tools and prints the
# path of its python. Needs python3 with venv (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")"
REQ="$(pwd)/python/requirements.txt"
hash=$(sha256sum "$REQ" | cut -c1-12)
VENV="$HOME/.cache/volspike/venv-$hash"
# The stamp is written last: a half-made environment is made again.
if [ ! -f "$VENV/.complete" ]; then
  echo "creating the Python environment $VENV (once per machine)" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV" >&2
  if ! { "$VENV/bin/pip" install --quiet --upgrade pip &&
         "$VENV/bin/pip" install --quiet -r "$REQ"; } >&2; then
    rm -rf "$VENV"
    echo "installing $REQ failed" >&2
    exit 1
  fi
  touch "$VENV/.complete"
fi
echo "$VENV/bin/python"
