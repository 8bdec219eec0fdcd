#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for a fixed time each (not part of
# `cargo test` or CI: a fuzzer's findings depend on how long it runs).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default: 600, all
#
# Needs a nightly toolchain (libFuzzer's coverage instrumentation); installs
# cargo-fuzz if missing. New inputs that reach new code are added to
# fuzz/corpus/TARGET (commit them after `cargo fuzz cmin`); a crash or
# timeout stops that target and is kept in fuzz/artifacts/TARGET/, and the
# script exits non-zero after running the rest. Each crash becomes a
# regression test next to the code it broke.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-600}"
shift || true

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: a nightly toolchain is needed: rustup toolchain install nightly" >&2
  exit 2
fi
command -v cargo-fuzz >/dev/null 2>&1 || cargo install --locked cargo-fuzz --version 0.13.2

# Its own target directory: sanitizer flags would otherwise rebuild the
# project's whole cache.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/volspike/fuzz-target}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

failed=()
for t in "${targets[@]}"; do
  echo "== fuzz $t for ${seconds}s"
  mkdir -p "fuzz/corpus/$t"
  # -timeout: one input taking over 10 s is a hang (a cycle in a model
  # would be one); -rss_limit_mb bounds memory per input.
  if cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
      2>"fuzz/$t.log"; then
    grep -E '^stat::(number_of_executed_units|peak_rss_mb|new_units_added)' "fuzz/$t.log" || true
  else
    echo "fuzz: $t found a crash or hang; see fuzz/$t.log and fuzz/artifacts/$t/" >&2
    failed+=("$t")
  fi
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: failed: ${failed[*]}" >&2; exit 1; }
echo "fuzz: every target ran ${seconds}s without a crash"
