#!/usr/bin/env bash
# Teacher-forced equality with llama.cpp, per architecture and weight type: for each model file,
# llama.cpp's llama-perplexity saves its log-probabilities over a text (--kl-divergence-base),
# and `llmchain perplexity --kl-divergence` compares llmchain's with them position by position
# (both read and write llama.cpp's file format). Prints, per file: mean and max KLD, the share of
# positions with the same top token, and the perplexity ratio llmchain / llama.cpp; then the same
# KLD and same-top of llama.cpp against itself (one token per micro-batch vs whole chunks), the
# spread of llama.cpp's own arithmetic on that file. (The PPL ratio carries llama.cpp's bias from
# the 16-bit log-probabilities in its file: llama.cpp compared with its own file reads ~1.01 on a
# sharp model; the KLD does not.)
#
#   bash scripts/compare_with_llamacpp.sh [--ctx 128] [--text FILE] [--work DIR]
#
# The files: random-weight `gen-model --shape tiny` files of every architecture llmchain runs
# (F32, F16, Q8_0, Q4_K written by llmchain), the same llama file quantized by llama-quantize to
# the types llmchain reads but does not write (Q2_K, Q3_K_M, IQ4_NL, IQ4_XS), and the trained
# models of ../shared/models. llama.cpp: $LLAMA_BIN_DIR (llama-perplexity, llama-quantize), by
# default build-llamacpp/build/bin, built from the llama.cpp source node-llama-cpp ships:
#   git clone bench/reference/node_modules/node-llama-cpp/llama/gitRelease.bundle build-llamacpp
#   cmake -S build-llamacpp -B build-llamacpp/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON \
#     -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
#   cmake --build build-llamacpp/build --target llama-perplexity llama-quantize -j
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${LLMCHAIN_BIN:-$root/build/apps/llmchain}"
ll="${LLAMA_BIN_DIR:-$root/build-llamacpp/build/bin}"
shared="${LLMCHAIN_SHARED_DIR:-$root/../shared}"
ctx=128 text="$root/tests/data/perplexity.txt" work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ctx) ctx="$2"; shift 2 ;;
    --text) text="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    -h|--help) sed -n 2,19p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
for t in llama-perplexity llama-quantize; do
  [ -x "$ll/$t" ] || { echo "error: $ll/$t not found (see the header of this script)" >&2; exit 1; }
done
[ -n "$work" ] || work=$(mktemp -d)
mkdir -p "$work"
vocab="$shared/testdata/tokenizer/ggml-vocab-llama-spm.gguf"

compare() {  # file label
  local f=$1 label=$2 base="$work/$(basename "$1")"
  # llama.cpp's log-probabilities twice: whole chunks per micro-batch (its batched/repacked
  # matrix path, what llama-perplexity does by default) and one token per micro-batch (its
  # vec_dot path, what generation runs).
  if ! "$ll/llama-perplexity" -m "$f" -f "$text" -c "$ctx" -b "$ctx" -t 2 --kl-divergence-base "$base.kld" \
      >"$work/llama.log" 2>&1 ||
     ! "$ll/llama-perplexity" -m "$f" -f "$text" -c "$ctx" -b "$ctx" -ub 1 -t 2 --kl-divergence-base "$base.ub1.kld" \
      >"$work/llama.log" 2>&1; then
    printf '%-36s llama-perplexity failed: %s\n' "$label" "$(grep -m1 -i error "$work/llama.log")"
    return
  fi
  local j1 j2
  j1=$("$bin" perplexity -m "$f" --kl-divergence-base "$base.kld" --kl-divergence --json -t 2 2>"$work/llmchain.log") &&
  j2=$("$bin" perplexity -m "$f" --kl-divergence-base "$base.ub1.kld" --kl-divergence --json -t 2 2>>"$work/llmchain.log") || {
    printf '%-36s llmchain failed: %s\n' "$label" "$(tail -1 "$work/llmchain.log")"
    return
  }
  # llama.cpp against itself: its one-token path compared with its batched file.
  "$ll/llama-perplexity" -m "$f" -c "$ctx" -b "$ctx" -ub 1 -t 2 --kl-divergence-base "$base.kld" --kl-divergence \
    >"$work/llama-self.log" 2>&1 || true
  local self_kld self_top
  self_kld=$(grep -m1 '^Mean    KLD' "$work/llama-self.log" | awk '{print $3}')
  self_top=$(grep -m1 '^Same top p' "$work/llama-self.log" | awk '{print $4}')
  node -e '
    const [a, b] = [JSON.parse(process.argv[1]), JSON.parse(process.argv[2])];
    const e = (x) => Number(x).toExponential(2).padStart(9), pc = (x) => `${(100 * x).toFixed(2).padStart(6)}%`;
    console.log(`${process.argv[3].padEnd(36)} ${e(a.mean_kld)} ${e(a.max_kld)} ${pc(a.same_top)} ${a.ppl_ratio.toFixed(4).padStart(7)}` +
      ` | ${e(b.mean_kld)} ${e(b.max_kld)} ${pc(b.same_top)} | ${e(process.argv[4] || NaN)} ${pc(Number(process.argv[5]) / 100)}`);
  ' "$j1" "$j2" "$label" "$self_kld" "$self_top"
}

echo "llama.cpp: $("$ll/llama-perplexity" --version 2>&1 | grep -m1 version || true); text $(basename "$text"), ctx $ctx"
echo "columns: llmchain vs llama.cpp batched (mean KLD, max KLD, same top, PPL ratio) | llmchain vs llama.cpp"
echo "         one token per micro-batch (mean, max, same top) | llama.cpp one-token vs batched (mean KLD, same top)"

gen() {  # name vocab args...
  local name=$1 v=$2; shift 2
  [ -f "$work/$name-f32.gguf" ] || "$bin" gen-model --shape tiny "$@" --type f32 --vocab "$v" \
    -o "$work/$name-f32.gguf" --seed 11 >/dev/null 2>&1
}
gen llama "$vocab" --arch llama
gen qwen2 "$vocab" --arch qwen2
gen qwen3 "$vocab" --arch qwen3 --head-dim 64
gen phi3 "$shared/testdata/tokenizer/ggml-vocab-phi-3.gguf" --arch phi3
gen gemma2 "$vocab" --arch gemma2 --head-dim 64 --swa 32 --attn-softcap 0.1 --final-softcap 0.5
gen gemma3 "$vocab" --arch gemma3 --head-dim 64 --swa 32 --swa-pattern 2
gen mixtral "$vocab" --arch llama --experts 4 --experts-used 2
gen qwen3moe "$vocab" --arch qwen3 --head-dim 64 --experts 8 --experts-used 2 --expert-ff 256
for a in llama qwen2 qwen3 phi3 gemma2 gemma3 mixtral qwen3moe; do
  compare "$work/$a-f32.gguf" "random $a F32"
  for t in f16 q8_0 q4_k; do
    "$bin" quantize "$work/$a-f32.gguf" "$work/$a-$t.gguf" "$t" >/dev/null 2>&1
    compare "$work/$a-$t.gguf" "random $a ${t^^} (llmchain)"
  done
done
# Types llmchain reads but does not write: quantized by llama.cpp.
for t in Q2_K Q3_K_M IQ4_NL IQ4_XS; do
  "$ll/llama-quantize" "$work/llama-f32.gguf" "$work/llama-$t.gguf" "$t" >/dev/null 2>&1 ||
    { echo "llama-quantize $t failed"; continue; }
  compare "$work/llama-$t.gguf" "random llama $t (llama-quantize)"
done
for f in "$shared/models/stories260K.gguf" "$shared/models/TinyStories-656K-Q8_0.gguf" "$shared"/models/quantized/*.gguf; do
  [ -f "$f" ] && compare "$f" "$(basename "$f" .gguf)"
done
