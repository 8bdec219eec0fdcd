#!/usr/bin/env bash
# Validates the deployment files with the real tools, none of which needs a
# Docker engine: the compose file against the Compose specification
# (check-jsonschema), Prometheus' configuration, alert rules and their unit
# tests (promtool, from Debian's package, extracted by scripts/extract-deb.sh), the
# Grafana dashboard's queries (parsed by promtool as recording rules), the
# Kubernetes manifests (rendered by kustomize, checked by
# kubernetes-validate --strict, the Strimzi and KEDA resources against their
# CRDs in deploy/crds), the Dockerfile (hadolint, errors fail),
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

echo "Kubernetes manifests: kustomize build, then kubernetes-validate --strict"
# A current kustomize (Debian's kubectl 1.20 carries kustomize 2, which
# knows neither secretGenerator's envs nor much else), built once per
# machine from the Go module proxy; go checks the modules' sums.
KUSTOMIZE_VERSION=v5.7.1
KUSTOMIZE="$HOME/.cache/volspike/kustomize-$KUSTOMIZE_VERSION/kustomize"
if [ ! -x "$KUSTOMIZE" ]; then
  echo "building kustomize $KUSTOMIZE_VERSION (once per machine)"
  GOBIN=$(dirname "$KUSTOMIZE") GOFLAGS=-mod=mod go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi
rendered=$(mktemp --suffix=.yaml)
k8s=$(mktemp -d)
trap 'rm -rf "$queries" "$rendered" "$k8s"' EXIT
# The Secret comes from deploy/k8s/secrets.env, which is never committed:
# render a copy with the example's values.
cp -r deploy/k8s/. "$k8s"
cp deploy/k8s/secrets.env.example "$k8s/secrets.env"
"$KUSTOMIZE" build "$k8s" > "$rendered"
# Core kinds against Kubernetes' schemas (the custom kinds are only warned
# about there) ...
"$BIN/kubernetes-validate" --strict --quiet "$rendered"
# ... and the Strimzi and KEDA kinds against their CRDs (deploy/crds, copied
# from the operators' releases named there).
"$PY" scripts/python/validate_crds.py deploy/crds "$rendered"
# One Kafka version for compose, Kubernetes and the tests
# (scripts/install-kafka.sh reads compose's), and a cluster id Kafka accepts.
"$PY" - "$rendered" <<'PYCHECK'
import base64, re, sys, yaml
compose = yaml.safe_load(open("docker-compose.yaml"))
images = {s["image"] for s in compose["services"].values() if s.get("image", "").startswith("apache/kafka:")}
assert len(images) == 1, f"compose runs several Kafka images: {images}"
version = images.pop().split(":")[1]
kafka = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "Kafka"]
k8s = {d["spec"]["kafka"]["version"] for d in kafka}
assert k8s == {version}, f"Kubernetes runs Kafka {k8s}, compose {version}"
cid = re.fullmatch(r"\$\{KAFKA_CLUSTER_ID:-(.*)\}", compose["services"]["kafka"]["environment"]["CLUSTER_ID"]).group(1)
assert len(cid) == 22 and len(base64.urlsafe_b64decode(cid + "==")) == 16, f"CLUSTER_ID {cid} is not a base64 UUID"
print(f"Kafka {version} in compose and Kubernetes; compose's cluster id is a base64 UUID")
PYCHECK

echo "hadolint deploy/Dockerfile"
"$BIN/hadolint" --failure-threshold error deploy/Dockerfile

echo "yamllint"
mapfile -t yamls < <(find . \( -path ./target -o -path ./.git -o -path ./data -o -path ./deploy/crds \) -prune -o \
  -type f \( -name '*.yml' -o -name '*.yaml' \) -print | sort)
"$BIN/yamllint" --strict -c .yamllint.yaml "${yamls[@]}"
echo "deploy files: ok (${#yamls[@]} YAML files)"
