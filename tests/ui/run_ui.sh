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
artifacts="${LLMCHAIN_UI_ARTIFACTS:-artifacts}"
args=(--bin "$LLMCHAIN_BIN" --model "$LLMCHAIN_UI_MODEL" --artifacts "$artifacts")
# The example chains, when present (ui.test.mjs falls back to no chains if they do not load).
# Served from a copy under the artifacts folder: files the chains write next to their YAML
# (the SQLite memory of customer_service) then land in the build tree, not in examples/.
if [ -n "${LLMCHAIN_UI_CONFIG:-}" ] && [ -f "$LLMCHAIN_UI_CONFIG" ]; then
  config_dir="$artifacts/ui-config"
  rm -rf "$config_dir" && mkdir -p "$config_dir"
  cp "$LLMCHAIN_UI_CONFIG" "$config_dir/"
  args+=(--config "$config_dir/$(basename "$LLMCHAIN_UI_CONFIG")")
fi
CHROMIUM="$chromium" exec node "$here/ui.test.mjs" "${args[@]}"
