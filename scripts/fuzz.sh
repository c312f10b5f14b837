#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS on its
# seed corpus (fuzz/corpus/NAME, kept in the repo). See docs/FUZZING.md.
#   scripts/fuzz.sh [SECONDS=60] [TARGET...] [-libfuzzer_flag=...]
# TARGETs (default: all): gguf json_schema gbnf regex chat_template yaml_chain guards
# http_request (a "_fuzz" suffix is accepted). Arguments starting with '-' go to libFuzzer.
# The corpus each run grows lands in $BUILD/fuzz/corpus/NAME (the repo's seeds are only
# read); crashes, timeouts and out-of-memory inputs in $BUILD/fuzz/artifacts/NAME/.
# Exit status: 0 when every target ran clean, 1 when one found something.
# FUZZ_MAX_LEN caps input size (default: 65536 for gguf, whose seeds include whole models
# that run at ~50 execs/s; libFuzzer's own choice for the others). JOBS: build parallelism,
# and how many targets fuzz at once (each on one core; its log goes to
# $BUILD/fuzz/logs/NAME.log and is printed when it finds something).
# FUZZ_BUILD_DIR: the build (default build-fuzz). FUZZ_CONFIGURED=1 uses it as it is
# configured (the test script's sanitizer build has -DLLMCHAIN_FUZZ=ON with the tests on).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=60
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  SECS=$1
  shift
fi
ALL=(gguf json_schema gbnf regex chat_template yaml_chain guards http_request)
TARGETS=()
FLAGS=()
for a in "$@"; do
  if [[ $a == -* ]]; then
    FLAGS+=("$a")
  else
    a=${a%_fuzz}
    [[ " ${ALL[*]} " == *" $a "* ]] || { echo "fuzz.sh: unknown target '$a' (${ALL[*]})" >&2; exit 2; }
    TARGETS+=("$a")
  fi
done
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=("${ALL[@]}")
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
SHARED=${LLMCHAIN_SHARED_DIR:-$(cd .. && pwd)/shared}

JOBS=${JOBS:-$(nproc)}
if [[ ${FUZZ_CONFIGURED:-0} != 1 ]]; then
  CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DLLMCHAIN_FUZZ=ON -DLLMCHAIN_TESTS=OFF -DLLMCHAIN_BENCH=OFF >/dev/null
fi
cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]/%/_fuzz}"
LOGS=$BUILD/fuzz/logs
mkdir -p "$LOGS"

# fuzz_one NAME: runs one target for SECS; its output goes to $LOGS/NAME.log.
fuzz_one() {
  local t=$1
  CORPUS=$BUILD/fuzz/corpus/$t
  ARTIFACTS=$BUILD/fuzz/artifacts/$t
  mkdir -p "$CORPUS" "$ARTIFACTS"
  SEEDS=(fuzz/corpus/"$t")
  EXTRA=()
  if [[ $t == gguf ]]; then
    # the shared models and vocab files plus the generated seeds
    GGUF_SEEDS=$BUILD/fuzz/seeds/gguf
    mkdir -p "$GGUF_SEEDS"
    cp -f "$SHARED"/models/*.gguf "$SHARED"/models/quantized/*.gguf "$GGUF_SEEDS"/ 2>/dev/null || true
    cp -f "$SHARED"/testdata/tokenizer/ggml-vocab-llama-spm.gguf "$GGUF_SEEDS"/ 2>/dev/null || true
    if command -v python3 >/dev/null; then python3 fuzz/make_seeds.py "$GGUF_SEEDS"; fi
    SEEDS+=("$GGUF_SEEDS")
    EXTRA+=(-max_len="${FUZZ_MAX_LEN:-65536}")
  elif [[ -n ${FUZZ_MAX_LEN:-} ]]; then
    EXTRA+=(-max_len="$FUZZ_MAX_LEN")
  fi
  [[ -f fuzz/dict/$t.dict ]] && EXTRA+=(-dict=fuzz/dict/$t.dict)
  # -rss_limit_mb: a parse may use memory proportional to its input, never more.
  local rc=0
  "$BUILD/fuzz/${t}_fuzz" -max_total_time="$SECS" -print_final_stats=1 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$ARTIFACTS/" "${EXTRA[@]}" "${FLAGS[@]}" "$CORPUS" "${SEEDS[@]}" >"$LOGS/$t.log" 2>&1 || rc=$?
  echo "$rc" >"$LOGS/$t.rc"
}

failed=()
for t in "${TARGETS[@]}"; do
  while [[ $(jobs -rp | wc -l) -ge $JOBS ]]; do wait -n || true; done
  echo "=== $t: ${SECS}s" >&2
  rm -f "$LOGS/$t.rc"
  touch "$LOGS/$t.start"
  fuzz_one "$t" &
done
wait
for t in "${TARGETS[@]}"; do
  if [[ $(cat "$LOGS/$t.rc" 2>/dev/null) == 0 ]]; then
    echo "--- $t: $(grep -E '^stat::number_of_executed_units' "$LOGS/$t.log" | awk '{print $2}') runs, nothing found" >&2
  else
    failed+=("$t")
    echo "--- $t: FOUND SOMETHING; its log:" >&2
    tail -n 60 "$LOGS/$t.log" >&2
    # The inputs themselves, so that a finding in CI can be replayed from its log alone
    # (libFuzzer does not always print a timeout's input).
    find "$BUILD/fuzz/artifacts/$t" -maxdepth 1 -type f -newer "$LOGS/$t.start" | while read -r a; do
      if [[ $(stat -c %s "$a") -le 16384 ]]; then
        echo "--- $t: input $(basename "$a") (base64): $(base64 -w0 "$a")" >&2
      else
        echo "--- $t: input $(basename "$a"): $(stat -c %s "$a") bytes, too long to print" >&2
      fi
    done
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: found something in: ${failed[*]} (inputs in $BUILD/fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz.sh: ${TARGETS[*]}: ${SECS}s each, nothing found" >&2
