#!/usr/bin/env bash
# Apache Kafka's own broker as a process: one KRaft node (broker and
# controller) on 127.0.0.1, from scripts/install-kafka.sh (Maven Central, the
# version docker-compose.yaml runs).
#
#   scripts/kafka.sh start DIR [PORT]
#                                 starts a node whose log dir and settings
#                                 live in DIR, waits until it answers and
#                                 prints its bootstrap address. A new DIR is
#                                 formatted with a fresh cluster id, on PORT
#                                 (default: a free one); starting an existing
#                                 DIR again (after stop or kill) restarts the
#                                 same node, with its data, on the same port.
#   scripts/kafka.sh stop DIR     a clean shutdown (SIGTERM, then SIGKILL
#                                 after 60 s).
#   scripts/kafka.sh kill DIR     SIGKILL: a crash.
#
# The broker's settings are compose's (docker-compose.yaml: no topic
# auto-creation, replication factor 1 for the internal topics, no initial
# rebalance delay); its log is DIR/kafka.log. KAFKA_HEAP (default 512m)
# sets the JVM heap.
set -euo pipefail
cmd=${1:-} DIR=${2:-} PORT=${3:-}
[ -n "$cmd" ] && [ -n "$DIR" ] || { echo "usage: scripts/kafka.sh start DIR [PORT] | stop DIR | kill DIR" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)

pid_of() { [ -f "$DIR/kafka.pid" ] && cat "$DIR/kafka.pid"; }
running() { local p; p=$(pid_of) && kill -0 "$p" 2>/dev/null; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

case "$cmd" in
start)
  KAFKA=$("$HERE/install-kafka.sh")
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  if running; then echo "kafka: already running in $DIR (pid $(pid_of))" >&2; exit 1; fi
  CLASSPATH="$KAFKA/libs/*"
  JAVA_OPTS=(-Xmx"${KAFKA_HEAP:-512m}" -Xms"${KAFKA_HEAP:-512m}" -XX:+UseG1GC -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$HERE/kafka/log4j2.properties")
  if [ ! -f "$DIR/server.properties" ]; then
    port=${PORT:-$(free_port)} cport=$(free_port)
    cat >"$DIR/server.properties.tmp" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DIR/data
auto.create.topics.enable=false
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
    # A fresh cluster id (a base64 UUID) for a fresh log dir.
    cluster=$(java -cp "$CLASSPATH" "${JAVA_OPTS[@]}" kafka.tools.StorageTool random-uuid 2>>"$DIR/format.log")
    java -cp "$CLASSPATH" "${JAVA_OPTS[@]}" kafka.tools.StorageTool format \
      -t "$cluster" -c "$DIR/server.properties.tmp" >"$DIR/format.log" 2>&1 \
      || { echo "kafka: formatting $DIR failed:" >&2; cat "$DIR/format.log" >&2; exit 1; }
    mv "$DIR/server.properties.tmp" "$DIR/server.properties"
  fi
  port=$(sed -n 's#^advertised.listeners=PLAINTEXT://127.0.0.1:##p' "$DIR/server.properties")
  # Its own session, so that the caller's Ctrl-C does not reach it before
  # the caller's own cleanup stops it in order.
  setsid java -cp "$CLASSPATH" "${JAVA_OPTS[@]}" kafka.Kafka "$DIR/server.properties" \
    >>"$DIR/kafka.log" 2>&1 </dev/null &
  echo $! >"$DIR/kafka.pid"
  # Ready once it answers a metadata request (kcat, a client of its own).
  for _ in $(seq 1 300); do
    if kcat -b "127.0.0.1:$port" -L -m 2 >/dev/null 2>&1; then
      echo "kafka: Apache Kafka $(cat "$KAFKA/version") on 127.0.0.1:$port (log dir $DIR)" >&2
      echo "127.0.0.1:$port"
      exit 0
    fi
    running || { echo "kafka: the broker exited; the end of $DIR/kafka.log:" >&2; tail -n 30 "$DIR/kafka.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "kafka: no answer on 127.0.0.1:$port within 60 s; the end of $DIR/kafka.log:" >&2
  tail -n 30 "$DIR/kafka.log" >&2
  exit 1
  ;;
stop|kill)
  running || exit 0
  p=$(pid_of)
  if [ "$cmd" = kill ]; then kill -KILL "$p"; else kill -TERM "$p"; fi
  for _ in $(seq 1 600); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then
    echo "kafka: no clean stop within 60 s; killing $p" >&2
    kill -KILL "$p"
    while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$DIR/kafka.pid"
  ;;
*) echo "usage: scripts/kafka.sh start DIR [PORT] | stop DIR | kill DIR" >&2; exit 2 ;;
esac
