#!/usr/bin/env bash
# Builds the tansu broker (0.6.0, in-memory storage) with two fixes and
# prints the binary's path. Reuses an earlier build on this machine.
#
# The fixes (scripts/tansu-dynostore.patch), both in the in-memory storage:
# - A fetch at an offset inside a record batch was answered with the batches
#   that start after it, so a consumer resuming from a committed offset (or
#   seeking) in the middle of a producer batch silently skipped the rest of
#   that batch. Measured with confluent-kafka: 30 of 30 random seeks into
#   5,000-record batches came back at the next batch boundary. Kafka returns
#   the batch that holds the offset and clients drop the records below it.
# - The end of the log (ListOffsets latest, the high watermark clients see)
#   was the newest batch's base offset plus one, short by the rest of that
#   batch: 10 batches of 100 records reported 901, not 1000. It is now the
#   stored watermark that produce assigns offsets from.
set -euo pipefail
cd "$(dirname "$0")"
VERSION=0.6.0
PATCH="$(pwd)/tansu-dynostore.patch"
hash=$(sha256sum "$PATCH" | cut -c1-12)
ROOT="$HOME/.cache/volspike/tansu-$VERSION-$hash"
BIN="$ROOT/bin/tansu"
if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
for crate in tansu tansu-storage; do
  curl -fsSL "https://static.crates.io/crates/$crate/$crate-$VERSION.crate" | tar xz -C "$src"
done
(cd "$src/tansu-storage-$VERSION" && patch -p1 --quiet <"$PATCH")
cat >>"$src/tansu-$VERSION/Cargo.toml" <<EOF

[patch.crates-io]
tansu-storage = { path = "../tansu-storage-$VERSION" }
EOF
echo "building tansu $VERSION with its fixes (about 10 minutes once per machine)" >&2
# `cargo build` in the package keeps its Cargo.lock (which pins every other
# dependency, as `cargo install --locked` would) and only points the
# tansu-storage entry at the patched copy.
target="$HOME/.cache/volspike/tansu-target"
cargo build --quiet --release --manifest-path "$src/tansu-$VERSION/Cargo.toml" \
  --features dynostore --bin tansu --target-dir "$target" >&2
mkdir -p "$ROOT/bin"
cp "$target/release/tansu" "$BIN"
rm -rf "$target"
echo "$BIN"
