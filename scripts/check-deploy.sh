#!/usr/bin/env bash
# Validates the deployment files with the real tools, none of which needs a
# Docker engine: the compose file against the Compose specification
# (check-jsonschema), Prometheus' configuration, alert rules and their unit
# tests (promtool, from Debian's package: scripts/install-prometheus.sh), the
# Grafana dashboard's queries (parsed by promtool as recording rules), the
# Dockerfile (hadolint, errors fail), every YAML file of the repository
# (yamllint). The Python tools come from scripts/python-env.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(scripts/python-env.sh)
BIN=$(dirname "$PY")

echo "compose file against the Compose specification"
"$BIN/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yaml

PROM=$(scripts/install-prometheus.sh)
echo "promtool: configuration, rules, rule unit tests"
"$PROM/promtool" check config deploy/prometheus/prometheus.yml
"$PROM/promtool" check rules deploy/prometheus/alerts.yml
"$PROM/promtool" test rules deploy/prometheus/alerts-test.yml

echo "promtool: every query of the Grafana dashboard parses"
queries=$(mktemp --suffix=.yml)
trap 'rm -f "$queries"' EXIT
"$PY" scripts/python/deploy_queries.py rules "$queries"
"$PROM/promtool" check rules "$queries"

echo "hadolint deploy/Dockerfile"
"$BIN/hadolint" --failure-threshold error deploy/Dockerfile

echo "yamllint"
mapfile -t yamls < <(find . \( -path ./target -o -path ./.git -o -path ./data \) -prune -o \
  -type f \( -name '*.yml' -o -name '*.yaml' \) -print | sort)
"$BIN/yamllint" --strict -c .yamllint.yaml "${yamls[@]}"
echo "deploy files: ok (${#yamls[@]} YAML files)"
