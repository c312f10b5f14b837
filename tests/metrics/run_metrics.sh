#!/usr/bin/env bash
# /metrics of real `llmchain serve` processes (tests/metrics.cmake):
#   role all, -m stories260K.gguf --config examples/chains.yaml: a chat completion, a completion
#   and a chain invoke (product_description, whose local model is the server's own); the chain
#   call must add to the token counters of the served model, and the scraped text must pass
#   `promtool check metrics` with nothing to report;
#   role gateway in front of it: its /metrics must pass promtool too.
# Each server binds port 0 (the bound port is read from its log) and works in its own temp dir,
# so runs in parallel do not collide. promtool (Debian package prometheus, installed by
# scripts/setup.sh) is required: without it this test fails rather than skips.
set -euo pipefail

BIN=${LLMCHAIN_BIN:?set LLMCHAIN_BIN to the llmchain binary}
MODEL=${LLMCHAIN_MODEL:?set LLMCHAIN_MODEL to stories260K.gguf}
CONFIG=${LLMCHAIN_CHAINS_CONFIG:?set LLMCHAIN_CHAINS_CONFIG to examples/chains.yaml}

# shellcheck source=tests/metrics/serve_lib.sh
source "$(dirname "$0")/serve_lib.sh"  # fail, start, post, TMP (servers stopped on exit)
command -v promtool >/dev/null 2>&1 ||
  fail "promtool not found on PATH: install the Debian package 'prometheus' (scripts/setup.sh does)"
command -v curl >/dev/null 2>&1 || fail "curl not found"
[ -f "$MODEL" ] || fail "model not found: $MODEL"
BIN=$(realpath "$BIN") MODEL=$(realpath "$MODEL") CONFIG=$(realpath "$CONFIG")  # the servers run in a temp dir

# sum FILE METRIC: the sum of the metric's samples, whatever their labels.
sum() {
  awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%d\n", s }' "$1"
}

# promtool_check FILE WHAT: promtool must accept the exposition and report nothing at all.
promtool_check() {
  local out rc=0
  out=$(promtool check metrics <"$1" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    echo "--- $2 /metrics:" >&2
    cat "$1" >&2
    echo "--- promtool check metrics (rc $rc):" >&2
    echo "$out" >&2
    fail "promtool check metrics reported problems in the $2's /metrics"
  fi
  echo "ok: promtool check metrics accepts the $2's /metrics"
}

start engine -m "$MODEL" --config "$CONFIG" --parallel 2
ENGINE_PORT=$PORT
M="http://127.0.0.1:$ENGINE_PORT/metrics"

post "$ENGINE_PORT" /v1/chat/completions '{"messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":16}' >/dev/null
post "$ENGINE_PORT" /v1/completions '{"prompt":"Once upon a time","max_tokens":16}' >/dev/null
sleep 0.2  # the access log and HTTP counters are written after the reply
curl -fsS "$M" >"$TMP/before.txt"

out=$(post "$ENGINE_PORT" /chains/product_description/invoke \
  '{"input":{"product":"wool socks"},"config":{"configurable":{}}}')
echo "$out" | grep -q '"output"' || fail "chain invoke gave no output: $out"
sleep 0.2
curl -fsS "$M" >"$TMP/after.txt"

for m in llmchain_prompt_tokens_total llmchain_generation_tokens_total llmchain_request_duration_seconds_count; do
  b=$(sum "$TMP/before.txt" "$m")
  a=$(sum "$TMP/after.txt" "$m")
  echo "$m: $b after chat + completion, $a after the chain invoke"
  [ "$b" -gt 0 ] || fail "$m stayed 0 after a chat completion and a completion"
  [ "$a" -gt "$b" ] || fail "the chain invoke did not add to $m ($b -> $a)"
done
grep -q '^llmchain_prompt_tokens_total{model="[^"]\+"} ' "$TMP/after.txt" ||
  fail "llmchain_prompt_tokens_total has no model label"
grep -q '^llmchain_http_requests_total{route="/chains/{name}/invoke",status="200"} 1$' "$TMP/after.txt" ||
  fail "no llmchain_http_requests_total for route /chains/{name}/invoke"
if grep -q 'route="[^"]*[()[]' "$TMP/after.txt"; then fail "a route label holds a regex"; fi
promtool_check "$TMP/after.txt" engine

start gateway --role gateway --upstream "http://127.0.0.1:$ENGINE_PORT" --health-interval 1
GATEWAY_PORT=$PORT
post "$GATEWAY_PORT" /v1/completions '{"prompt":"Once upon a time","max_tokens":4}' >/dev/null
curl -fsS "http://127.0.0.1:$GATEWAY_PORT/metrics" >"$TMP/gateway.txt"
grep -q '^llmchain_gateway_requests_total 1$' "$TMP/gateway.txt" || fail "the gateway did not count its request"
promtool_check "$TMP/gateway.txt" gateway
echo "PASS"
