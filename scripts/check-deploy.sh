#!/usr/bin/env bash
# Validates the deployment files with the real tools, none of which needs a
# Docker engine: the compose file against the Compose specification
# (check-jsonschema), Prometheus' configuration, alert rules and their unit
# tests (promtool, from Debian's package, extracted by scripts/extract-deb.sh), the
# Grafana dashboard's queries (parsed by promtool as recording rules), the
# Kubernetes manifests (rendered by Debian's kubectl kustomize, checked by
# kubernetes-validate --strict), the Dockerfile (hadolint, errors fail),
# every YAML file of the repository (yamllint). The Python tools come from scripts/python-env.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(scripts/python-env.sh)
BIN=$(dirname "$PY")

echo "compose file against the Compose specification"
"$BIN/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yaml

PROM=$(scripts/extract-deb.sh prometheus)
echo "promtool: configuration, rules, rule unit tests"
"$PROM/promtool" check config deploy/prometheus/prometheus.yml
"$PROM/promtool" check rules deploy/prometheus/alerts.yml
"$PROM/promtool" test rules deploy/prometheus/alerts-test.yml

echo "promtool: every query of the Grafana dashboard parses"
queries=$(mktemp --suffix=.yml)
trap 'rm -f "$queries"' EXIT
"$PY" scripts/python/deploy_queries.py rules "$queries"
"$PROM/promtool" check rules "$queries"

echo "Kubernetes manifests: kubectl kustomize, then kubernetes-validate --strict"
KUBE=$(scripts/extract-deb.sh kubernetes-client)
rendered=$(mktemp --suffix=.yaml)
trap 'rm -f "$queries" "$rendered"' EXIT
"$KUBE/kubectl" kustomize deploy/k8s > "$rendered"
# Core kinds are checked against their schemas; the Strimzi and KEDA kinds
# have none offline and are only warned about.
"$BIN/kubernetes-validate" --strict --quiet "$rendered"

echo "hadolint deploy/Dockerfile"
"$BIN/hadolint" --failure-threshold error deploy/Dockerfile

echo "yamllint"
mapfile -t yamls < <(find . \( -path ./target -o -path ./.git -o -path ./data \) -prune -o \
  -type f \( -name '*.yml' -o -name '*.yaml' \) -print | sort)
"$BIN/yamllint" --strict -c .yamllint.yaml "${yamls[@]}"
echo "deploy files: ok (${#yamls[@]} YAML files)"
