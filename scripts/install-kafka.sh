#!/usr/bin/env bash
# Installs Apache Kafka's broker from Maven Central (org.apache.kafka:kafka_2.13
# and its dependencies, resolved by Maven from scripts/kafka/pom.xml) at the
# version docker-compose.yaml runs, and prints the folder of its jars. One
# pinned version for compose, Kubernetes (deploy/k8s/kafka.yaml, checked by
# scripts/check-deploy.sh) and the tests.
#
# Cached outside the clone, once per machine per version. Maven checks each
# file against the repository's checksum (--strict-checksums); then every jar
# is checked against scripts/kafka/kafka-VERSION.sha256, committed, so a
# changed artifact fails here. For a new version, `--write-checksums` records
# them (and the change is reviewed in git like any other).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=$(sed -n 's#^ *image: apache/kafka:\([0-9.]*\)$#\1#p' docker-compose.yaml | sort -u)
[ "$(echo "$VERSION" | wc -l)" = 1 ] && [ -n "$VERSION" ] \
  || { echo "install-kafka: docker-compose.yaml should name one apache/kafka version, found: $VERSION" >&2; exit 1; }
SUMS="$(pwd)/scripts/kafka/kafka-$VERSION.sha256"
POM="$(pwd)/scripts/kafka/pom.xml"
hash=$(cat "$POM" | sha256sum | cut -c1-8)
DIR="$HOME/.cache/volspike/kafka-$VERSION-$hash"
if [ ! -f "$DIR/.complete" ]; then
  command -v mvn >/dev/null 2>&1 && command -v java >/dev/null 2>&1 \
    || { echo "install-kafka: needs java (17 or later) and mvn" >&2; exit 1; }
  started=$(date +%s)
  echo "installing Apache Kafka $VERSION from Maven Central into $DIR (once per machine)" >&2
  rm -rf "$DIR.tmp"
  mkdir -p "$DIR.tmp"
  mvn -B --no-transfer-progress -Dstyle.color=never --strict-checksums -f "$POM" -Dkafka.version="$VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$DIR.tmp/libs" >"$DIR.tmp/mvn.log" 2>&1 \
    || { echo "install-kafka: Maven failed; the end of its log:" >&2; tail -n 30 "$DIR.tmp/mvn.log" >&2; exit 1; }
  if [ "${1:-}" = --write-checksums ]; then
    (cd "$DIR.tmp/libs" && sha256sum -- *.jar) >"$SUMS"
    echo "install-kafka: wrote $SUMS" >&2
  fi
  [ -f "$SUMS" ] || { echo "install-kafka: no checksums for $VERSION ($SUMS); run with --write-checksums" >&2; exit 1; }
  # The same set of jars, each with its recorded checksum.
  diff <(cd "$DIR.tmp/libs" && ls -- *.jar) <(awk '{ print $2 }' "$SUMS") >&2 \
    || { echo "install-kafka: the resolved jars differ from $SUMS" >&2; exit 1; }
  (cd "$DIR.tmp/libs" && sha256sum --quiet -c "$SUMS") >&2 \
    || { echo "install-kafka: checksum mismatch against $SUMS" >&2; exit 1; }
  echo "$VERSION" >"$DIR.tmp/version"
  touch "$DIR.tmp/.complete"
  rm -rf "$DIR"
  mv "$DIR.tmp" "$DIR"
  echo "install-kafka: Apache Kafka $VERSION installed in $(( $(date +%s) - started )) s" >&2
fi
echo "$DIR"
