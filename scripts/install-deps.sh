#!/usr/bin/env bash
# Installs what building and the end-to-end tests need, skipping what is there:
# a C toolchain for librdkafka (built from source by rdkafka-sys), curl, a
# Java runtime and Maven (Apache Kafka's broker from Maven Central,
# scripts/install-kafka.sh), Go (kustomize, scripts/check-deploy.sh), and
# kcat (Debian's, a Kafka client of its own that scripts/e2e.sh reads the
# topics with), socat and openssl (a TLS server and CA that are not ours,
# for the e2e's wss:// stage), and
# a TrueType font for the text of the training charts (fonts-dejavu-core),
# and Debian's chromium, which takes the e2e screenshot of the drift worker's
# page (headless; no display needed).
set -euo pipefail
need=()
for tool in make gcc g++ perl python3; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
for tool in curl kcat java mvn go socat openssl; do
  command -v "$tool" >/dev/null 2>&1 || need+=("$tool")
done
# Virtual environments (scripts/python-env.sh) need ensurepip, which Debian
# ships separately.
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ "${#need[@]}" -gt 0 ]; then
  pkgs=()
  for t in "${need[@]}"; do
    case "$t" in
      gcc|g++|make) pkgs+=(build-essential) ;;
      java) pkgs+=(default-jre-headless) ;;
      mvn) pkgs+=(maven) ;;
      go) pkgs+=(golang-go) ;;
      *) pkgs+=("$t") ;;
    esac
  done
  echo "installing: ${pkgs[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
