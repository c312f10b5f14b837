#!/usr/bin/env bash
# Sets up, builds and runs the main job: generation with the model in $MODEL
# (default: the shared stories260K model). Extra arguments go to `llmchain run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLMCHAIN_TESTS=OFF -DLLMCHAIN_BENCH=OFF >/dev/null
cmake --build build -j "$(nproc)" --target llmchain
MODEL=${MODEL:-../shared/models/stories260K.gguf}
if [ $# -eq 0 ]; then set -- -p "Once upon a time" -n 64; fi
exec ./build/apps/llmchain run -m "$MODEL" "$@"
