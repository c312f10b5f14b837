#!/usr/bin/env bash
# Runs the playground browser test (tests/ui/ui.test.mjs). Exit 77 (skip) without node or
# Chromium. Env: LLMCHAIN_BIN, LLMCHAIN_UI_MODEL, LLMCHAIN_UI_CONFIG (optional), LLMCHAIN_UI_ARTIFACTS.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
chromium="${CHROMIUM:-/usr/bin/chromium}"
command -v node >/dev/null || { echo "SKIP: node not found"; exit 77; }
[ -x "$chromium" ] || { echo "SKIP: $chromium not found"; exit 77; }
[ -f "${LLMCHAIN_UI_MODEL:-}" ] || { echo "SKIP: model ${LLMCHAIN_UI_MODEL:-} not found"; exit 77; }
if [ ! -d "$here/node_modules/playwright-core" ]; then
  command -v npm >/dev/null || { echo "SKIP: npm not found"; exit 77; }
  (cd "$here" && npm ci --no-audit --no-fund) || { echo "SKIP: npm ci failed (offline?)"; exit 77; }
fi
args=(--bin "$LLMCHAIN_BIN" --model "$LLMCHAIN_UI_MODEL" --artifacts "${LLMCHAIN_UI_ARTIFACTS:-artifacts}")
# The example chains, when present (ui.test.mjs falls back to no chains if they do not load).
if [ -n "${LLMCHAIN_UI_CONFIG:-}" ] && [ -f "$LLMCHAIN_UI_CONFIG" ]; then args+=(--config "$LLMCHAIN_UI_CONFIG"); fi
CHROMIUM="$chromium" exec node "$here/ui.test.mjs" "${args[@]}"
