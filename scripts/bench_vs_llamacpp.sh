#!/usr/bin/env bash
# Side by side: `llmchain bench` and the same measurement with llama.cpp (prebuilt CPU
# libraries through node-llama-cpp 3.21.1, bench/reference/llama_bench.mjs), one model after
# the other and one engine after the other, never in parallel.
#
#   bash scripts/bench_vs_llamacpp.sh [-t THREADS] [-p 128] [-n 32] [-r 3] [--json] MODEL...
#
# Env: LLMCHAIN_BIN (default build/apps/llmchain). The first run installs node-llama-cpp into
# bench/reference/node_modules (gitignored; needs npm and the npm registry or its cache).
# Figures are only comparable on an idle machine: check `uptime` first.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${LLMCHAIN_BIN:-$root/build/apps/llmchain}"
ref="$root/bench/reference"

threads=2 n_prompt=128 n_gen=32 reps=3 json=()
models=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t) threads="$2"; shift 2 ;;
    -p) n_prompt="$2"; shift 2 ;;
    -n) n_gen="$2"; shift 2 ;;
    -r) reps="$2"; shift 2 ;;
    --json) json=(--json); shift ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
[ ${#models[@]} -gt 0 ] || { sed -n 6p "$0" >&2; exit 2; }
[ -x "$bin" ] || { echo "error: $bin not found (build first, or set LLMCHAIN_BIN)" >&2; exit 1; }
command -v node >/dev/null || { echo "error: node not found (scripts/setup.sh installs it)" >&2; exit 1; }
[ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ] ||
  { echo "error: node-llama-cpp 3.21.1 needs Node >= 20 (found $(node --version))" >&2; exit 1; }

if [ ! -d "$ref/node_modules/node-llama-cpp" ] || [ ! -d "$ref/node_modules/@node-llama-cpp/linux-x64" ]; then
  command -v npm >/dev/null || { echo "error: npm not found" >&2; exit 1; }
  echo "installing node-llama-cpp@3.21.1 into $ref/node_modules (prebuilt CPU binaries only)" >&2
  # --ignore-scripts: no postinstall (it could try to build llama.cpp); --omit=optional: no CUDA/Vulkan/other-OS binaries.
  (cd "$ref" && npm ci --ignore-scripts --omit=optional --no-audit --no-fund >&2)
fi

echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, load average:$(uptime | sed 's/.*load average://')"
for m in "${models[@]}"; do
  echo
  echo "## $m"
  echo "### llmchain"
  "$bin" bench -m "$m" -t "$threads" -p "$n_prompt" -n "$n_gen" -r "$reps" "${json[@]}"
  echo "### llama.cpp (node-llama-cpp)"
  node "$ref/llama_bench.mjs" -m "$m" -t "$threads" -p "$n_prompt" -n "$n_gen" -r "$reps" "${json[@]}"
done
