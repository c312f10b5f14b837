#!/usr/bin/env bash
# Serving throughput side by side: `llmchain serve` and llama.cpp's `llama-server` on the same
# model, context per slot, parallel slots and threads, each driven by bench/load/load.mjs
# (streamed completions, closed loop), one server after the other, never both at once.
#
#   bash scripts/bench_serve_vs_llamacpp.sh [-t THREADS] [--parallel 16] [--ctx 2048]
#        [--levels 1,4,16,64] [--requests 2] [--max-tokens 64] [--prompt-tokens 32] MODEL
#
# llama-server: $LLAMA_SERVER if set; otherwise it is built once (about 15 minutes on 2 cores)
# into build-llamacpp/ from the llama.cpp source that node-llama-cpp ships as a git bundle
# (bench/reference, installed on first use as by scripts/bench_vs_llamacpp.sh).
# Env: LLMCHAIN_BIN (default build/apps/llmchain). Figures are only comparable on an idle
# machine: check `uptime` first.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${LLMCHAIN_BIN:-$root/build/apps/llmchain}"
ref="$root/bench/reference"

threads=2 parallel=16 ctx=2048 levels=1,4,16,64 requests=2 max_tokens=64 prompt_tokens=32 model=""
while [ $# -gt 0 ]; do
  case "$1" in
    -t) threads="$2"; shift 2 ;;
    --parallel) parallel="$2"; shift 2 ;;
    --ctx) ctx="$2"; shift 2 ;;
    --levels) levels="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    --max-tokens) max_tokens="$2"; shift 2 ;;
    --prompt-tokens) prompt_tokens="$2"; shift 2 ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) model="$1"; shift ;;
  esac
done
[ -n "$model" ] || { sed -n 6,7p "$0" >&2; exit 2; }
[ -x "$bin" ] || { echo "error: $bin not found (build first, or set LLMCHAIN_BIN)" >&2; exit 1; }
command -v node >/dev/null || { echo "error: node not found (scripts/setup.sh installs it)" >&2; exit 1; }

llama_server="${LLAMA_SERVER:-$root/build-llamacpp/build/bin/llama-server}"
if [ ! -x "$llama_server" ]; then
  bundle="$ref/node_modules/node-llama-cpp/llama/gitRelease.bundle"
  if [ ! -f "$bundle" ]; then
    command -v npm >/dev/null || { echo "error: npm not found" >&2; exit 1; }
    (cd "$ref" && npm ci --ignore-scripts --omit=optional --no-audit --no-fund >&2)
  fi
  echo "building llama-server from $bundle into build-llamacpp/ (once)" >&2
  src="$root/build-llamacpp"
  [ -d "$src/.git" ] || git clone -q "$bundle" "$src" >&2
  cmake -S "$src" -B "$src/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_CURL=OFF >&2
  cmake --build "$src/build" --target llama-server -j "$(nproc)" >&2
fi

port_of() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=""; }
trap cleanup EXIT

wait_ready() {  # url health-path
  for _ in $(seq 600); do
    curl -sf "$1$2" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { echo "error: the server exited; see $log" >&2; exit 1; }
    sleep 0.5
  done
  echo "error: $1 did not become ready" >&2
  exit 1
}

load() {
  node "$root/bench/load/load.mjs" --url "$1" --levels "$levels" --requests "$requests" \
    --max-tokens "$max_tokens" --prompt-tokens "$prompt_tokens"
}

echo "# $(date -u +%FT%TZ) $(uname -m), $(nproc) cores, load average:$(uptime | sed 's/.*load average://')"
echo "# $model: $parallel slots of $ctx tokens, $threads threads"
log="$(mktemp)"

echo "## llama.cpp llama-server ($("$llama_server" --version 2>&1 | grep -m1 version || true))"
port="$(port_of)"
# -c is the total context, split between the slots.
"$llama_server" -m "$model" -c $((ctx * parallel)) -np "$parallel" -t "$threads" -tb "$threads" \
  --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
pid=$!
wait_ready "http://127.0.0.1:$port" /health
load "http://127.0.0.1:$port" | tee "$log.llama"
cleanup

echo "## llmchain serve"
port="$(port_of)"
"$bin" serve -m "$model" --ctx-size "$ctx" --parallel "$parallel" --threads "$threads" \
  --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
pid=$!
wait_ready "http://127.0.0.1:$port" /health/ready
load "http://127.0.0.1:$port" | tee "$log.llmchain"
cleanup

echo "## generated tok/s: llmchain / llama-server"
paste <(awk '$1 ~ /^[0-9]+$/ {print $1, $4}' "$log.llmchain") <(awk '$1 ~ /^[0-9]+$/ {print $4}' "$log.llama") |
  awk '{printf "%4d clients: %8.1f / %8.1f = %.2fx\n", $1, $2, $3, ($3 > 0 ? $2 / $3 : 0)}'
rm -f "$log" "$log.llama" "$log.llmchain"
