#!/usr/bin/env bash
# Extracts Debian's `prometheus` package (the server and promtool) into the
# cache, once per machine, without installing it: no daemon starts, nothing
# outside the cache changes. Prints the directory holding the binaries.
# scripts/check-deploy.sh uses promtool; scripts/stack.sh runs the server.
set -euo pipefail
CACHE="$HOME/.cache/volspike"
if ! apt-cache policy prometheus 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq >&2
fi
version=$(apt-cache policy prometheus | sed -n 's/ *Candidate: //p')
DIR="$CACHE/prometheus-$version"
if [ ! -x "$DIR/usr/bin/promtool" ]; then
  echo "extracting Debian's prometheus $version into $DIR (once per machine)" >&2
  work=$(mktemp -d)
  chmod 755 "$work"  # apt downloads as _apt
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -qq "prometheus=$version" >&2)
  rm -rf "$DIR.tmp"
  dpkg -x "$work"/prometheus_*.deb "$DIR.tmp"
  rm -rf "$DIR"
  mv "$DIR.tmp" "$DIR"
fi
echo "$DIR/usr/bin"
