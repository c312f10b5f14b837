#!/usr/bin/env bash
# CTest entry for the gateway chains test (tests/deploy/gateway_chains.mjs).
# Exits 77 (CTest SKIP_RETURN_CODE) when node is missing; needs no npm packages.
set -u
if ! command -v node >/dev/null 2>&1; then
  echo "node not found: skipping the gateway chains test"
  exit 77
fi
exec node "$(dirname "$0")/gateway_chains.mjs" "$@"
