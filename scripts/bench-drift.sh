#!/usr/bin/env bash
# The drift worker's cost per window, volspike against numpy/scipy on the
# same samples, on this machine, in one run: ten features, each window of
# 100,000 values compared with a 100,000-value reference.
#   scripts/bench-drift.sh [MINUTES] [WINDOWS]   (simulated market; default
#                                                 1100 min, about 1.2M ticks)
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-1100}
WINDOWS=${2:-5}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/volspike/target}"
# The same build as the tests and scripts/e2e.sh, so nothing compiles twice.
cargo test --workspace --release --no-run --quiet
BIN="$CARGO_TARGET_DIR/release/volspike"
PY=$(scripts/python-env.sh)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$BIN" simulate --minutes "$MINUTES" --seed 7 --out "$WORK/sim.ndjson" >/dev/null
"$BIN" replay --raw "$WORK/sim.ndjson" --out "$WORK/features.parquet" >/dev/null
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
"$BIN" bench drift --features "$WORK/features.parquet" --rows 100000 --windows "$WINDOWS" --out "$WORK/drift"
"$PY" scripts/python/bench_drift.py "$WORK/drift"
