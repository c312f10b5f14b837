#!/usr/bin/env bash
# CTest entry (tests/interop.cmake): installs node-llama-cpp 3.21.1 (llama.cpp's prebuilt CPU
# libraries) into LLMCHAIN_INTEROP_DIR (default: build/interop) once, then runs
# llamacpp_interop.mjs. Exits 77 (CTest SKIP_RETURN_CODE) without node/npm, with Node < 20, off
# linux-x64, or when the install fails (offline and not in npm's cache).
# Env: LLMCHAIN_BIN, LLMCHAIN_SHARED_DIR, LLMCHAIN_INTEROP_DIR.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
dir="${LLMCHAIN_INTEROP_DIR:-$here/../../build/interop}"
command -v node >/dev/null 2>&1 || { echo "SKIP: node not found"; exit 77; }
# node-llama-cpp 3.21.1 needs Node >= 20 (Debian bookworm's own nodejs is 18: skip there).
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] 2>/dev/null || { echo "SKIP: node $(node --version) is older than 20 (node-llama-cpp 3.21.1 needs >= 20)"; exit 77; }
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "SKIP: the pinned prebuilt llama.cpp binaries are linux-x64 only"
  exit 77
fi
mkdir -p "$dir"
if ! cmp -s "$here/package-lock.json" "$dir/package-lock.json" || [ ! -d "$dir/node_modules/node-llama-cpp" ]; then
  command -v npm >/dev/null 2>&1 || { echo "SKIP: npm not found (node-llama-cpp is not installed in $dir)"; exit 77; }
  cp "$here/package.json" "$here/package-lock.json" "$dir/"
  # --ignore-scripts: no postinstall (it may try to build llama.cpp); --omit=optional: no GPU/other-OS binaries.
  if ! (cd "$dir" && npm ci --ignore-scripts --omit=optional --no-audit --no-fund --prefer-offline >npm-ci.log 2>&1); then
    tail -20 "$dir/npm-ci.log"
    rm -f "$dir/package-lock.json" # retry next time
    echo "SKIP: npm ci failed (offline?)"
    exit 77
  fi
fi
exec node "$here/llamacpp_interop.mjs" --bin "${LLMCHAIN_BIN:?}" --nlc "$dir" \
  --shared "${LLMCHAIN_SHARED_DIR:-$here/../../../shared}" --work "$dir/work" "$@"
