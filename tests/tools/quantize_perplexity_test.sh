#!/usr/bin/env bash
# CLI smoke test: quantize to Q8_0 (twice: same bytes), perplexity --json of both.
# Usage: quantize_perplexity_test.sh LLMCHAIN_BINARY MODEL TEXT
set -eu
BIN=$1 MODEL=$2 TEXT=$3
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$BIN" quantize "$MODEL" "$WORK/a.gguf" q8_0 -t 2
"$BIN" quantize "$MODEL" "$WORK/b.gguf" Q8_0 -t 1
cmp "$WORK/a.gguf" "$WORK/b.gguf"
if "$BIN" quantize "$MODEL" "$WORK/c.gguf" q9_9 2>"$WORK/err"; then echo "FAIL: unknown type accepted"; exit 1; fi
grep -q "unknown quantization type" "$WORK/err"
"$BIN" perplexity -m "$MODEL" -f "$TEXT" --ctx 128 --json -t 2 >"$WORK/f32.json"
"$BIN" perplexity -m "$WORK/a.gguf" -f "$TEXT" --ctx 128 -t 2 >"$WORK/q8.txt"
grep -q '"ppl":' "$WORK/f32.json"
grep -q '"tokens_scored":' "$WORK/f32.json"
grep -Eq '^PPL = [0-9.]+ \+/- [0-9.]+$' "$WORK/q8.txt"
cat "$WORK/f32.json" "$WORK/q8.txt"
echo "quantize/perplexity CLI checks passed"
