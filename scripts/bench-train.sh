#!/usr/bin/env bash
# Training time of the logistic regression, volspike against scikit-learn on
# the same standardized training rows, on this machine, in one run.
#   scripts/bench-train.sh [MINUTES]   (simulated market; default 1100 min,
#                                       about 1.2M ticks, 845k training rows)
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-1100}
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
"$BIN" bench logistic --features "$WORK/features.parquet" --runs 3 --out "$WORK/matrix"
"$PY" scripts/python/bench_logistic.py "$WORK/matrix" 3
