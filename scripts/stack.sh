#!/usr/bin/env bash
# The compose stack (docker-compose.yaml) as processes on this host, for a
# machine without a Docker engine:
#
#   - Apache Kafka (scripts/kafka.sh: the broker from Maven Central at the
#     version docker-compose.yaml runs, one KRaft node);
#   - MLflow (`mlflow server`, scripts/python-env.sh) with a SQLite store;
#   - volspike-ingestor, volspike-featurizer (--featurizers of them),
#     volspike-inference and volspike-drift from their release binaries,
#     each with config/docker.toml and VOLSPIKE__ variables for what differs
#     on one host (addresses, ports, directories);
#   - Debian's Prometheus (scripts/extract-deb.sh) with
#     deploy/prometheus/prometheus.yml and its alert rules, the targets
#     rewritten to 127.0.0.1 (scripts/python/stack_prometheus.py).
#
# Grafana is not run (Debian does not package it); its dashboard's queries
# run against this Prometheus as they are.
#
# usage: scripts/stack.sh [--sim] [--minutes N] [--speed N] [--featurizers N]
#                         [--ports compose|free] [--dir DIR]
#
#   --sim            the exchange simulator (`volspike exchange-sim`) in place
#                    of Coinbase, serving --minutes (default 240) of simulated
#                    market at --speed (default 10) times real time. A
#                    simulated hour before it trains the first champion
#                    (registered in MLflow, promoted) and fills the drift
#                    worker's archive, as `volspike demo` does.
#                    Without --sim the ingestor reads Coinbase (internet
#                    needed) and there is no model until one is promoted
#                    (deploy/README.md, "Upgrading a model").
#   --featurizers N  featurizer processes (compose's --scale featurizer=N).
#   --ports compose  the compose file's host ports (Kafka 29092, MLflow 5000,
#                    gRPC 50051, drift 9464, Prometheus 9090; the other
#                    admin ports from 9465); `free` picks free ports.
#   --dir DIR        where logs and state go (default data/stack). It is
#                    emptied first: each run starts from empty topics and a
#                    new MLflow store.
#
# Once everything answers, DIR/stack.env lists the URLs, ports and process
# ids (shell syntax, for `source`). Runs until Ctrl-C or SIGTERM, then stops
# everything it started. A service that exits is reported and not restarted.
# VOLSPIKE__SECTION__KEY variables in the environment reach every service,
# as compose's `environment:` does (secrets such as
# VOLSPIKE__INFERENCE__AUTH_TOKEN go there).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SIM=0 MINUTES=240 SPEED=10 FEATURIZERS=1 PORTS=compose DIR=data/stack
while [ $# -gt 0 ]; do
  case "$1" in
    --sim) SIM=1; shift ;;
    --minutes) MINUTES=$2; shift 2 ;;
    --speed) SPEED=$2; shift 2 ;;
    --featurizers) FEATURIZERS=$2; shift 2 ;;
    --ports) PORTS=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "stack: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$FEATURIZERS" =~ ^[1-9][0-9]*$ ]] || { echo "stack: --featurizers must be at least 1" >&2; exit 2; }
case "$PORTS" in compose|free) ;; *) echo "stack: --ports is compose or free" >&2; exit 2 ;; esac

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/volspike/target}"
REL="$CARGO_TARGET_DIR/release"
BIN="$REL/volspike"
log() { echo "stack: $*"; }

PIDS=() NAMES=() MLPID=""
stop() {
  trap - EXIT INT TERM
  log "stopping"
  # The services first (SIGTERM: they finish their batch and commit), then
  # what they talk to.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
  for _ in $(seq 1 100); do
    alive=0
    for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
  [ -n "$MLPID" ] && kill -- -"$MLPID" 2>/dev/null || true
  scripts/kafka.sh stop "$DIR/kafka" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scripts/install-deps.sh >/dev/null
scripts/install-kafka.sh >/dev/null
PY=$(scripts/python-env.sh)
PROM=$(scripts/extract-deb.sh prometheus)
cargo build --release --workspace --bins --quiet

rm -rf "$DIR"
mkdir -p "$DIR"/{logs,mlflow,prometheus}
DIR=$(cd "$DIR" && pwd)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port() { # compose-port
  if [ "$PORTS" = free ]; then free_port; else echo "$1"; fi
}
KAFKA_PORT=$(port 29092) MLFLOW_PORT=$(port 5000) GRPC_PORT=$(port 50051)
DRIFT_ADMIN=$(port 9464) PROMETHEUS_PORT=$(port 9090)
INGESTOR_ADMIN=$(port 9465) INFERENCE_ADMIN=$(port 9466) SIM_PORT=$(port 9480)
FEATURIZER_ADMINS=()
for i in $(seq 1 "$FEATURIZERS"); do FEATURIZER_ADMINS+=("$(port $((9466 + i)))"); done
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
MLFLOW="http://127.0.0.1:$MLFLOW_PORT"

# Waits up to SECONDS for a TCP port or an HTTP URL; fails naming its log.
wait_for() { # what seconds log
  local what=$1 seconds=$2 logf=$3
  for _ in $(seq 1 $((seconds * 5))); do
    if [[ "$what" == http* ]]; then curl -fsS "$what" >/dev/null 2>&1 && return 0
    else (echo > "/dev/tcp/127.0.0.1/$what") 2>/dev/null && return 0; fi
    sleep 0.2
  done
  log "$what did not answer within ${seconds}s; the end of $logf:"; tail -n 30 "$logf" >&2; exit 1
}
started() { PIDS+=("$1"); NAMES+=("$2"); }

log "MLflow on $MLFLOW"
# Its own process group: the server forks workers, and stop() ends them all.
setsid "$(dirname "$PY")/mlflow" server --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
  --backend-store-uri "sqlite:///$DIR/mlflow/mlflow.db" --artifacts-destination "$DIR/mlflow/artifacts" \
  >"$DIR/logs/mlflow.log" 2>&1 &
MLPID=$!
scripts/kafka.sh start "$DIR/kafka" "$KAFKA_PORT" >/dev/null
log "Apache Kafka $(cat "$(scripts/install-kafka.sh)/version") on $BOOTSTRAP"

# What differs from config/docker.toml on one host (the featurizer keeps
# its transactions, as compose runs it).
export VOLSPIKE__KAFKA__BOOTSTRAP="$BOOTSTRAP"
export VOLSPIKE__REGISTRY__MLFLOW_URI="$MLFLOW"
export VOLSPIKE__REGISTRY__DIR="$DIR/models"
export VOLSPIKE__INGESTOR__JOURNAL_DIR="$DIR/journal"
export VOLSPIKE__DRIFT__DATA_DIR="$DIR/drift"
export VOLSPIKE__INFERENCE__LISTEN="127.0.0.1:$GRPC_PORT"
if [ "$SIM" = 1 ]; then
  export VOLSPIKE__INGESTOR__URL="ws://127.0.0.1:$SIM_PORT"
  # The simulated history is an hour: drift windows of 5 minutes (not
  # the default 20) give the reference a dozen of them to calibrate on.
  export VOLSPIKE__DRIFT__WINDOW="${VOLSPIKE__DRIFT__WINDOW:-5m}"
fi
CONFIG=(--config config/docker.toml)
# Each service is checked as compose would start it, before it starts.
for s in ingestor featurizer inference drift; do
  "$BIN" config check "${CONFIG[@]}" --service "$s" >"$DIR/logs/config-check-$s.out" 2>&1 \
    || { log "the configuration of $s does not pass:"; cat "$DIR/logs/config-check-$s.out" >&2; exit 1; }
done
service() { # name admin-port binary [args...]
  local name=$1 admin=$2; shift 2
  VOLSPIKE__ADMIN__LISTEN="127.0.0.1:$admin" VOLSPIKE__REGISTRY__DIR="$DIR/models-$name" \
    "$@" "${CONFIG[@]}" >"$DIR/logs/$name.out" 2>"$DIR/logs/$name.log" &
  started $! "$name"
}

wait_for "$MLFLOW/health" 120 "$DIR/logs/mlflow.log"
if [ "$SIM" = 1 ]; then
  mkdir -p "$DIR/sim"
  log "the first champion: trained on a simulated hour (log: $DIR/logs/bootstrap.log)"
  {
    "$BIN" simulate --minutes 60 --seed 3 --out "$DIR/sim/history.ndjson"
    "$BIN" replay --raw "$DIR/sim/history.ndjson" --out "$DIR/sim/history.parquet"
    "$BIN" train "${CONFIG[@]}" --features "$DIR/sim/history.parquet" --out "$DIR/sim/model" \
      --mlflow-uri "$MLFLOW"
    "$BIN" models "${CONFIG[@]}" promote --mlflow-uri "$MLFLOW"
    "$BIN" drift import "${CONFIG[@]}" --features "$DIR/sim/history.parquet"
    # The live market starts where the history ends.
    "$BIN" simulate --minutes "$MINUTES" --seed 42 --start 2026-01-01T01:00:00Z --out "$DIR/sim/live.ndjson"
  } >"$DIR/logs/bootstrap.log" 2>&1 || { log "training the first champion failed:"; tail -n 20 "$DIR/logs/bootstrap.log" >&2; exit 1; }
fi

service drift "$DRIFT_ADMIN" "$REL/volspike-drift"
service inference "$INFERENCE_ADMIN" "$REL/volspike-inference"
for i in $(seq 1 "$FEATURIZERS"); do
  VOLSPIKE__FEATURIZER__INSTANCE_ID="stack-$i" service "featurizer-$i" "${FEATURIZER_ADMINS[$((i - 1))]}" \
    "$REL/volspike-featurizer"
done
if [ "$SIM" = 1 ]; then
  "$BIN" exchange-sim --replay "$DIR/sim/live.ndjson" --speed "$SPEED" --listen "127.0.0.1:$SIM_PORT" \
    >"$DIR/logs/exchange-sim.out" 2>"$DIR/logs/exchange-sim.log" &
  started $! exchange-sim
  wait_for "$SIM_PORT" 30 "$DIR/logs/exchange-sim.log"
fi
service ingestor "$INGESTOR_ADMIN" "$REL/volspike-ingestor"

ADMINS=("ingestor=$INGESTOR_ADMIN" "inference=$INFERENCE_ADMIN" "drift=$DRIFT_ADMIN")
for i in $(seq 1 "$FEATURIZERS"); do ADMINS+=("featurizer-$i=${FEATURIZER_ADMINS[$((i - 1))]}"); done
for a in "${ADMINS[@]}"; do
  wait_for "http://127.0.0.1:${a#*=}/healthz" 60 "$DIR/logs/${a%%=*}.log"
done

feat_targets=$(printf '127.0.0.1:%s,' "${FEATURIZER_ADMINS[@]}")
"$PY" scripts/python/stack_prometheus.py "$DIR/prometheus/prometheus.yml" \
  "ingestor=127.0.0.1:$INGESTOR_ADMIN" "featurizer=${feat_targets%,}" \
  "inference=127.0.0.1:$INFERENCE_ADMIN" "drift=127.0.0.1:$DRIFT_ADMIN" \
  "prometheus=127.0.0.1:$PROMETHEUS_PORT"
"$PROM/promtool" check config "$DIR/prometheus/prometheus.yml" >"$DIR/logs/promtool.out" 2>&1 \
  || { cat "$DIR/logs/promtool.out" >&2; exit 1; }
"$PROM/prometheus" --config.file="$DIR/prometheus/prometheus.yml" \
  --storage.tsdb.path="$DIR/prometheus/data" --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
  --web.local-assets="$PROM/../share/prometheus/web/" --web.console.templates="$PROM/../../etc/prometheus/consoles" \
  --web.console.libraries="$PROM/../../etc/prometheus/console_libraries" \
  >"$DIR/logs/prometheus.log" 2>&1 &
started $! prometheus
wait_for "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" 60 "$DIR/logs/prometheus.log"

{
  echo "# scripts/stack.sh, started $(date -u +%FT%TZ)"
  echo "BOOTSTRAP=$BOOTSTRAP"
  echo "MLFLOW=$MLFLOW"
  echo "GRPC=127.0.0.1:$GRPC_PORT"
  echo "PROMETHEUS=http://127.0.0.1:$PROMETHEUS_PORT"
  echo "INGESTOR_ADMIN=$INGESTOR_ADMIN"
  echo "INFERENCE_ADMIN=$INFERENCE_ADMIN"
  echo "DRIFT_ADMIN=$DRIFT_ADMIN"
  echo "FEATURIZER_ADMINS=\"${FEATURIZER_ADMINS[*]}\""
  echo "PID_MLFLOW=$MLPID"
  echo "PID_KAFKA=$(cat "$DIR/kafka/kafka.pid")"
  for i in "${!PIDS[@]}"; do
    echo "PID_$(echo "${NAMES[$i]}" | tr 'a-z-' 'A-Z_')=${PIDS[$i]}"
  done
} >"$DIR/stack.env.tmp"
mv "$DIR/stack.env.tmp" "$DIR/stack.env"

cat <<EOF
stack: up (state and logs in $DIR; Ctrl-C stops it)
  Apache Kafka    $BOOTSTRAP
  MLflow          $MLFLOW
  inference gRPC  127.0.0.1:$GRPC_PORT
  drift worker    http://127.0.0.1:$DRIFT_ADMIN/drift
  Prometheus      http://127.0.0.1:$PROMETHEUS_PORT/classic/alerts (Debian builds only the classic UI)
  /metrics        ${ADMINS[*]}
EOF

# Report each exit; keep the rest running, as compose does for a stopped
# service.
while :; do
  for i in "${!PIDS[@]}"; do
    p=${PIDS[$i]}
    [ -n "$p" ] || continue
    if ! kill -0 "$p" 2>/dev/null; then
      rc=0; wait "$p" || rc=$?
      log "${NAMES[$i]} (pid $p) exited with status $rc"
      PIDS[$i]=""
    fi
  done
  sleep 1
done
