#!/usr/bin/env bash
# Builds the tansu broker (0.6.0, in-memory storage) with three fixes and
# prints the binary's path. Reuses an earlier build on this machine.
#
# Two fixes (scripts/tansu-dynostore.patch) are in the in-memory storage:
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
# One (scripts/tansu-service-apiversions.patch) is in the ApiVersions answer:
# tansu wrote the v3 tagged fields (supported and finalized features, their
# epoch, zk_migration_ready) even at their default values, which Kafka leaves
# out. librdkafka 2.0.2 (Debian bookworm's kcat) misreads them ("Protocol read
# buffer underflow for ApiVersion v3") and never connects.
set -euo pipefail
cd "$(dirname "$0")"
VERSION=0.6.0
PATCH="$(pwd)/tansu-dynostore.patch"
SERVICE_PATCH="$(pwd)/tansu-service-apiversions.patch"
hash=$(cat "$PATCH" "$SERVICE_PATCH" | sha256sum | cut -c1-12)
ROOT="$HOME/.cache/volspike/tansu-$VERSION-$hash"
BIN="$ROOT/bin/tansu"
if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
for crate in tansu tansu-storage tansu-service; do
  curl -fsSL "https://static.crates.io/crates/$crate/$crate-$VERSION.crate" | tar xz -C "$src"
done
(cd "$src/tansu-storage-$VERSION" && patch -p1 --quiet <"$PATCH")
(cd "$src/tansu-service-$VERSION" && patch -p1 --quiet <"$SERVICE_PATCH")
cat >>"$src/tansu-$VERSION/Cargo.toml" <<EOF

[patch.crates-io]
tansu-storage = { path = "../tansu-storage-$VERSION" }
tansu-service = { path = "../tansu-service-$VERSION" }
EOF
echo "building tansu $VERSION with its fixes (about 10 minutes once per machine)" >&2
# `cargo build` in the package keeps its Cargo.lock (which pins every other
# dependency, as `cargo install --locked` would) and only points the
# tansu-storage and tansu-service entries at the patched copies.
target="$HOME/.cache/volspike/tansu-target"
cargo build --quiet --release --manifest-path "$src/tansu-$VERSION/Cargo.toml" \
  --features dynostore --bin tansu --target-dir "$target" >&2
mkdir -p "$ROOT/bin"
cp "$target/release/tansu" "$BIN"
rm -rf "$target"
echo "$BIN"
