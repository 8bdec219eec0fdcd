#!/usr/bin/env bash
# Latency and throughput of the inference server's GetScore and Score on this
# machine, with the load generator (`volspike bench grpc`) on the same
# machine, side by side with a Python grpcio + scikit-learn server of the same
# logistic model and the same proto (scripts/python/grpc_sklearn_server.py),
# measured in the same run with the same load generator.
#
#   scripts/bench-grpc.sh [RATES] [SECONDS]   (open loop at each of RATES
#                                              requests/s, default "1000 5000",
#                                              for SECONDS each, default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=${1:-1000 5000}
SECONDS_=${2:-20}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/volspike/target}"
# The same build as the tests and scripts/e2e.sh, so nothing compiles twice.
cargo test --workspace --release --no-run --quiet 2>/dev/null
BIN="$CARGO_TARGET_DIR/release/volspike"
PY=$(scripts/python-env.sh)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.2; done; return 1; }

# A logistic model trained on an hour of simulated market, and its features.
"$BIN" simulate --minutes 60 --seed 5 --out "$WORK/sim.ndjson" >/dev/null
"$BIN" replay --raw "$WORK/sim.ndjson" --out "$WORK/features.parquet" >/dev/null
"$BIN" train --features "$WORK/features.parquet" --models logistic --out "$WORK/model" --no-register >/dev/null
MODEL="$WORK/model/logistic.json"

echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
bench() {  # name port
  for rpc in get-score score; do
    for rate in $RATES; do
      "$BIN" bench grpc --target "http://127.0.0.1:$2" --rpc "$rpc" --rate "$rate" --duration "${SECONDS_}s" | sed "s/^/$1 /"
    done
    "$BIN" bench grpc --target "http://127.0.0.1:$2" --rpc "$rpc" --concurrency 64 --duration 10s | sed "s/^/$1 /"
  done
}

port=$(free_port)
"$BIN" serve --model "$MODEL" --warm-from "$WORK/features.parquet" --listen "127.0.0.1:$port" \
  --admin-listen "" >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
wait_port "$port" || { cat "$WORK/serve.log"; exit 1; }
bench volspike "$port"
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true

pyport=$(free_port)
"$PY" scripts/python/grpc_sklearn_server.py "$MODEL" "$WORK/features.parquet" "$pyport" 8 >"$WORK/py.log" 2>&1 &
PIDS+=($!)
wait_port "$pyport" || { cat "$WORK/py.log"; exit 1; }
bench python-grpcio-sklearn "$pyport"
