#!/usr/bin/env bash
# Installs what llmchain needs to build and test, from Debian's archive (and npm
# for the end-to-end clients). Skips what is already present; safe to re-run.
set -euo pipefail

PKGS=(build-essential cmake ninja-build pkg-config git
  nlohmann-json3-dev libfmt-dev libspdlog-dev libcli11-dev libcpp-httplib-dev
  libyaml-cpp-dev libsqlite3-dev libre2-dev libssl-dev libicu-dev zlib1g-dev libbrotli-dev libhiredis-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  redis-server
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev curl ca-certificates
  python3  # scripts/check_layers.py (the architecture table, checked as a test), fuzz seeds
  prometheus)  # promtool: the server_metrics test checks /metrics with `promtool check metrics`

missing=()
# Node.js (end-to-end tests with the official OpenAI SDK, browser and manifest tests):
# use the machine's own node when present, else Debian's.
if ! command -v node >/dev/null 2>&1; then PKGS+=(nodejs npm); fi
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: system packages present" >&2
fi
