#!/usr/bin/env bash
# The dashboard and the alerts query what llmchain really exports (tests/monitoring.cmake):
# starts `llmchain serve` (role all, stories260K, examples/chains.yaml) and a gateway in front
# of it, sends traffic through both (chat, completion, a chain invoke, a guarded chain whose
# pii guard redacts an e-mail address), scrapes both /metrics, then check_queries.mjs checks
# deploy/monitoring/llmchain-dashboard.json and llmchain-alerts.yaml against the scrapes:
# every metric and label they use is exported, every query parses (promtool).
# Servers bind port 0 and use their own temp dir: safe in parallel. Exits 77 (skip) only when
# node or promtool is missing.
set -euo pipefail

BIN=${LLMCHAIN_BIN:?set LLMCHAIN_BIN to the llmchain binary}
MODEL=${LLMCHAIN_MODEL:?set LLMCHAIN_MODEL to stories260K.gguf}
CONFIG=${LLMCHAIN_CHAINS_CONFIG:?set LLMCHAIN_CHAINS_CONFIG to examples/chains.yaml}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

for tool in node promtool; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$tool not found: skipping the dashboard check (promtool: Debian package prometheus, scripts/setup.sh)"
    exit 77
  fi
done
# shellcheck source=tests/metrics/serve_lib.sh
source "$ROOT/tests/metrics/serve_lib.sh"  # fail, start, post, TMP (servers stopped on exit)
command -v curl >/dev/null 2>&1 || fail "curl not found"
[ -f "$MODEL" ] || fail "model not found: $MODEL"
BIN=$(realpath "$BIN") MODEL=$(realpath "$MODEL") CONFIG=$(realpath "$CONFIG")

start engine -m "$MODEL" --config "$CONFIG" --parallel 2
ENGINE_PORT=$PORT
post "$ENGINE_PORT" /v1/chat/completions '{"messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":8}' >/dev/null
post "$ENGINE_PORT" /v1/completions '{"prompt":"Once upon a time","max_tokens":8}' >/dev/null
out=$(post "$ENGINE_PORT" /chains/customer_service/invoke \
  '{"input":{"question":"Mail me at jane.doe@example.com"},"config":{"configurable":{"session_id":"s1"}}}')
echo "$out" | grep -q '"output"' || fail "customer_service invoke gave no output: $out"

start gateway --role gateway --upstream "http://127.0.0.1:$ENGINE_PORT" --health-interval 1
GATEWAY_PORT=$PORT
post "$GATEWAY_PORT" /v1/completions '{"prompt":"Once upon a time","max_tokens":4}' >/dev/null

sleep 0.2  # the HTTP counters are written after the reply
curl -fsS "http://127.0.0.1:$ENGINE_PORT/metrics" >"$TMP/engine.txt"
curl -fsS "http://127.0.0.1:$GATEWAY_PORT/metrics" >"$TMP/gateway.txt"
grep -q '^llmchain_guard_events_total{chain="customer_service",guard="pii",action="redact"} 1$' "$TMP/engine.txt" || {
  grep '^llmchain_guard' "$TMP/engine.txt" >&2 || true
  fail "the pii guard of customer_service recorded no redact event"
}

node "$HERE/check_queries.mjs" --promtool promtool \
  --dashboard "$ROOT/deploy/monitoring/llmchain-dashboard.json" \
  --rules "$ROOT/deploy/monitoring/llmchain-alerts.yaml" \
  "$TMP/engine.txt" "$TMP/gateway.txt"
