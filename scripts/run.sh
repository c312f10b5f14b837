#!/usr/bin/env bash
# Sets up, builds and runs the main job: generation with the model in $MODEL
# (default: the shared stories260K model). Extra arguments go to `llmchain run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# A fresh checkout configures a lean build (no tests, no benchmarks); an existing build folder
# (e.g. the one scripts/test.sh made) is reused as it is configured.
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLMCHAIN_TESTS=OFF -DLLMCHAIN_BENCH=OFF >/dev/null
fi
cmake --build build -j "$(nproc)" --target llmchain >&2
MODEL=${MODEL:-../shared/models/stories260K.gguf}
if [ $# -eq 0 ]; then set -- -p "Once upon a time" -n 64; fi
exec ./build/apps/llmchain run -m "$MODEL" "$@"
