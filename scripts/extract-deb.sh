#!/usr/bin/env bash
# Usage: scripts/extract-deb.sh PACKAGE
# Extracts a Debian package into the cache, once per machine per version,
# without installing it: no daemon starts, nothing outside the cache
# changes. Prints the directory holding its binaries. scripts/check-deploy.sh
# uses `prometheus` (promtool).
set -euo pipefail
pkg=${1:?usage: scripts/extract-deb.sh PACKAGE}
CACHE="$HOME/.cache/volspike"
if ! apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq >&2
fi
version=$(apt-cache policy "$pkg" | sed -n 's/ *Candidate: //p')
DIR="$CACHE/$pkg-$version"
if [ ! -f "$DIR/.complete" ]; then
  echo "extracting Debian's $pkg $version into $DIR (once per machine)" >&2
  work=$(mktemp -d)
  chmod 755 "$work"  # apt downloads as _apt
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -qq "$pkg=$version" >&2)
  rm -rf "$DIR.tmp"
  dpkg -x "$work/${pkg}_"*.deb "$DIR.tmp"
  touch "$DIR.tmp/.complete"
  rm -rf "$DIR"
  mv "$DIR.tmp" "$DIR"
fi
echo "$DIR/usr/bin"
