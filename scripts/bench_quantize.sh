#!/usr/bin/env bash
# Quantization speed (issue 8): a TinyLlama-1.1B-shaped F16 GGUF (random weights) to Q4_K_M.
#
#   bash scripts/bench_quantize.sh [THREADS=2] [TYPE=q4_k_m]
#
# Makes models/tinyllama-f16.gguf with `llmchain gen-model` if it is missing (2.05 GiB), then
# runs build/bench/bench_quantize (model::quantize_file in-process: input MB, seconds, MB/s, CPU
# time). Without that binary (LLMCHAIN_BENCH=OFF) it times `llmchain quantize` instead.
# Env: LLMCHAIN_BIN (default build/apps/llmchain), BENCH_QUANTIZE (default build/bench/bench_quantize).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
threads="${1:-2}" type="${2:-q4_k_m}"
bin="${LLMCHAIN_BIN:-build/apps/llmchain}"
bench="${BENCH_QUANTIZE:-build/bench/bench_quantize}"
in=models/tinyllama-f16.gguf
vocab=../shared/testdata/tokenizer/ggml-vocab-llama-spm.gguf

mkdir -p models
if [ ! -f "$in" ]; then
  echo "making $in (gen-model --shape tinyllama --type f16)" >&2
  "$bin" gen-model --shape tinyllama --type f16 --vocab "$vocab" -o "$in" -t "$threads"
fi
echo "# $(date -u +%FT%TZ), $(nproc) cores, load average:$(uptime | sed 's/.*load average://')"
if [ -x "$bench" ]; then
  "$bench" --input "$in" --type "$type" --threads "$threads"
else
  out="models/tinyllama-f16.bench-$type.gguf"
  echo "($bench not built: timing \`llmchain quantize\`, process start and model open included)"
  t0=$(date +%s.%N)
  "$bin" quantize "$in" "$out" "$type" -t "$threads" 2>&1 | tail -1
  t1=$(date +%s.%N)
  rm -f "$out"
  awk -v b="$(stat -c %s "$in")" -v t0="$t0" -v t1="$t1" -v th="$threads" -v ty="$type" 'BEGIN {
    s = t1 - t0; printf "quantize %s -> %s, %d threads: input %.1f MB (file), %.2f s, %.1f MB/s\n", "'"$in"'", ty, th, b / 1e6, s, b / 1e6 / s }'
fi
