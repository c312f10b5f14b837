#!/usr/bin/env bash
# CTest entry: validates deploy/ (kustomize renders, Kubernetes schemas and the
# Prometheus Operator CRD schemas with unknown fields rejected, project rules,
# compose, the root Dockerfile and .dockerignore).
# Installs the pinned packages once (npm ci, only when node_modules is missing).
# Exits 77 (CTest SKIP_RETURN_CODE) when node/npm or kubectl/kustomize are
# missing, or when npm ci fails (offline).
set -u
cd "$(dirname "$0")"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node/npm not found: skipping the deployment checks"
  exit 77
fi
if [ ! -d node_modules/kubernetes-models ] || [ ! -d node_modules/yaml ] || [ ! -d node_modules/ajv ] ||
  [ ! -d node_modules/re2-wasm ]; then
  if ! npm ci --no-audit --no-fund >"${TMPDIR:-/tmp}/llmchain-deploy-npm-ci.log" 2>&1; then
    cat "${TMPDIR:-/tmp}/llmchain-deploy-npm-ci.log"
    echo "npm ci failed (offline?): skipping the deployment checks"
    exit 77
  fi
fi
exec node validate_k8s.mjs "$@"
