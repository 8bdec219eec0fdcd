#!/usr/bin/env bash
# Ingestor throughput: exchange-sim --speed max (flood) -> volspike ingest ->
# Apache Kafka (scripts/kafka.sh, on 127.0.0.1) + journal, all on this machine. Prints the
# ingestor's summary (frames/s from its first frame until Kafka has every
# record and the journal is fsynced) and its peak RSS (GNU time).
#
#   scripts/bench-ingest.sh [INPUT.ndjson]   (default: a 200k-tick input made
#   with `volspike bench make-input` from the shared recordings)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/volspike/target}"
BIN="$CARGO_TARGET_DIR/release/volspike"
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; scripts/kafka.sh stop "$WORK/kafka"; wait 2>/dev/null; rm -rf "$WORK"' EXIT
INPUT="${1:-$WORK/input.ndjson}"
if [ ! -f "$INPUT" ]; then
  "$BIN" bench make-input --raw '../shared/data/coinbase/**/*.ndjson' --min-ticks 200000 --out "$INPUT"
fi
TICKS=$("$BIN" replay --raw "$INPUT" --out "$WORK/x.parquet" | sed -n 's/.* ticks=\([0-9]*\).*/\1/p')
BOOT=$(scripts/kafka.sh start "$WORK/kafka")
simport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$BIN" exchange-sim --replay "$INPUT" --speed max --listen "127.0.0.1:$simport" >"$WORK/sim.out" 2>&1 &
PIDS+=($!)
sleep 2   # the simulator loads its input
products="--pair BTC-USD --pair ETH-USD"   # the products of the shared recordings
VOLSPIKE__LOG__LEVEL=warn /usr/bin/time -v "$BIN" ingest --bootstrap "$BOOT" \
  --url "ws://127.0.0.1:$simport" $products --save-disk "$WORK/journal" --admin-listen off \
  --stop-after-ticks "$TICKS" 2>"$WORK/time.txt" | tee "$WORK/ingest.out"
grep -E "Maximum resident set size|Elapsed" "$WORK/time.txt"
echo "journal: $(du -sh "$WORK/journal" | cut -f1)"
