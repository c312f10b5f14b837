#!/usr/bin/env bash
# Builds the GGUF libFuzzer target with clang (ASan + UBSan) and runs it.
#   scripts/fuzz.sh [SECONDS=60] [extra libFuzzer flags...]
# FUZZ_MAX_LEN (default 65536) caps input size: whole-model inputs run at ~50
# execs/s, 64 KiB ones at thousands (seeds are cut to it; their headers stay).
# Seeds: the shared models and vocab files plus small generated files. The
# corpus grows in $BUILD/fuzz/corpus; crashes land in $BUILD/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
shift || true
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
SHARED=${LLMCHAIN_SHARED_DIR:-$(cd .. && pwd)/shared}

CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DLLMCHAIN_FUZZ=ON -DLLMCHAIN_TESTS=OFF -DLLMCHAIN_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j "${JOBS:-$(nproc)}" --target gguf_fuzz

SEEDS=$BUILD/fuzz/seeds
CORPUS=$BUILD/fuzz/corpus
ARTIFACTS=$BUILD/fuzz/artifacts
mkdir -p "$SEEDS" "$CORPUS" "$ARTIFACTS"
cp -f "$SHARED"/models/*.gguf "$SHARED"/models/quantized/*.gguf "$SEEDS"/ 2>/dev/null || true
cp -f "$SHARED"/testdata/tokenizer/ggml-vocab-llama-spm.gguf "$SEEDS"/ 2>/dev/null || true
if command -v python3 >/dev/null; then python3 fuzz/make_seeds.py "$SEEDS"; fi

# -rss_limit_mb: a parse may use memory proportional to its input, never more.
exec "$BUILD/fuzz/gguf_fuzz" -max_total_time="$SECS" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
  -max_len="${FUZZ_MAX_LEN:-65536}" -artifact_prefix="$ARTIFACTS/" "$@" "$CORPUS" "$SEEDS"
