#!/usr/bin/env bash
# End-to-end checks of the llmchain command line against llama.cpp's goldens.
# usage: cli_test.sh LLMCHAIN_BINARY SHARED_DIR
set -u
BIN=$1
SHARED=$2
pass=0
fail=0
check() {  # name expected actual
  if [ "$2" == "$3" ]; then
    pass=$((pass + 1))
  else
    fail=$((fail + 1))
    printf 'FAIL %s\n  expected: %q\n  actual:   %q\n' "$1" "$2" "$3"
  fi
}
golden() {  # model-json case-index field
  node -e "const g=require('$SHARED/testdata/golden/$1.json'); const v=g.cases[$2]['$3']; process.stdout.write(typeof v==='string'?v:JSON.stringify(v))"
}

for model in stories260K TinyStories-656K-Q8_0; do
  file=$SHARED/models/$model.gguf
  for i in 1 2 3; do
    prompt=$(golden $model $i prompt)
    expected=$(golden $model $i completion_text)
    actual=$("$BIN" run -m "$file" -p "$prompt" -n 64 --temp 0 -t 2 2>/dev/null)
    check "run $model case $i" "$expected" "$actual"
    expected_ids=$(golden $model $i prompt_tokens | tr -d ' ')
    actual_ids=$("$BIN" tokenize -m "$file" "$prompt" 2>/dev/null | tr -d ' \n')
    check "tokenize $model case $i" "$expected_ids" "$actual_ids"
  done
done

# Same seed => same output; stderr carries the speed line, stdout only the text.
a=$("$BIN" run -m "$SHARED/models/stories260K.gguf" -p "Once upon a time" -n 24 --temp 0.9 --seed 42 2>/dev/null)
b=$("$BIN" run -m "$SHARED/models/stories260K.gguf" -p "Once upon a time" -n 24 --temp 0.9 --seed 42 2>/dev/null)
check "seeded run is deterministic" "$a" "$b"
err=$("$BIN" run -m "$SHARED/models/stories260K.gguf" -p "Once" -n 4 --temp 0 2>&1 >/dev/null)
case "$err" in *tok/s*) pass=$((pass + 1)) ;; *) fail=$((fail + 1)); echo "FAIL speed line on stderr: $err" ;; esac

# A missing or corrupt model gives a clear error naming the file, exit code 1.
out=$("$BIN" run -m /nonexistent.gguf -p x 2>&1); rc=$?
check "missing model exit code" 1 "$rc"
case "$out" in *nonexistent.gguf*) pass=$((pass + 1)) ;; *) fail=$((fail + 1)); echo "FAIL missing model message: $out" ;; esac
tmp=$(mktemp)
head -c 5000 "$SHARED/models/stories260K.gguf" >"$tmp"
out=$("$BIN" run -m "$tmp" -p x 2>&1); rc=$?
check "truncated model exit code" 1 "$rc"
rm -f "$tmp"

# JSON schema: stdout is exactly one JSON document valid for the schema.
schema=$(mktemp --suffix .json)
echo '{"type":"object","properties":{"hero":{"type":"string","maxLength":10},"age":{"type":"integer"}},"required":["hero","age"],"additionalProperties":false}' >"$schema"
out=$("$BIN" run -m "$SHARED/models/stories260K.gguf" -p "Once upon a time" -n 200 --seed 3 --json-schema "$schema" 2>/dev/null)
valid=$(node -e "try{const j=JSON.parse(process.argv[1]); console.log(typeof j.hero==='string'&&Number.isInteger(j.age)&&Object.keys(j).length===2?'ok':'bad')}catch(e){console.log('bad')}" "$out")
check "json-schema output valid ($out)" ok "$valid"
rm -f "$schema"

# A qwen3 file (per-head Q/K norms, head size 64 != n_embd / n_head) loads, reports its
# architecture and generates (tests/interop compares its continuations with llama.cpp's).
q3=$(mktemp --suffix .gguf)
"$BIN" gen-model --shape tiny --arch qwen3 --head-dim 64 --type q8_0 \
  --vocab "$SHARED/testdata/tokenizer/ggml-vocab-llama-spm.gguf" -o "$q3" >/dev/null 2>&1
arch=$("$BIN" info "$q3" --json 2>/dev/null | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);console.log(j.architecture ?? j.general?.architecture ?? JSON.stringify(Object.keys(j)))})")
check "qwen3 info architecture" qwen3 "$arch"
out=$("$BIN" run -m "$q3" -p "Once upon a time" -n 8 --temp 0 2>/dev/null); rc=$?
check "qwen3 run exit code" 0 "$rc"
[ -n "$out" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL qwen3 run printed nothing"; }
rm -f "$q3"

# perplexity --kl-divergence-base / --kl-divergence (llama.cpp's file format): the file's size
# is its header, the tokens and one record per scored position; a model against its own base
# gives KLD ~0 and the same top token everywhere; a quantized one a small KLD.
kld=$(mktemp)
"$BIN" perplexity -m "$SHARED/models/stories260K.gguf" -f "$(dirname "$0")/../data/perplexity.txt" --ctx 128 \
  --kl-divergence-base "$kld" >/dev/null 2>&1
size=$(stat -c %s "$kld")
want=$(node -e "const nv=2*Math.floor((512+1)/2)+4, chunks=33; console.log(20 + 4*chunks*128 + 2*nv*chunks*(128-1-64))")
check "kl base file size" "$want" "$size"
self=$("$BIN" perplexity -m "$SHARED/models/stories260K.gguf" --kl-divergence-base "$kld" --kl-divergence --json 2>/dev/null)
check "kl self: same top, KLD ~0" "1 ok" "$(node -e "const j=JSON.parse(process.argv[1]); console.log(j.same_top, Math.abs(j.mean_kld) < 1e-5 ? 'ok' : j.mean_kld)" "$self")"
q8=$(mktemp --suffix .gguf)
"$BIN" quantize "$SHARED/models/stories260K.gguf" "$q8" Q8_0 >/dev/null 2>&1
other=$("$BIN" perplexity -m "$q8" --kl-divergence-base "$kld" --kl-divergence --json 2>/dev/null)
check "kl q8_0: small KLD, mostly the same top" ok "$(node -e "const j=JSON.parse(process.argv[1]); console.log(j.mean_kld > 0 && j.mean_kld < 0.01 && j.same_top > 0.95 && j.positions === 2079 ? 'ok' : JSON.stringify(j))" "$other")"
out=$("$BIN" perplexity -m "$SHARED/models/stories260K.gguf" --kl-divergence 2>&1); rc=$?
check "kl without a base file: usage error" 2 "$rc"
rm -f "$kld" "$q8"

# --backend: the scalar reference backend and the cpu backend (packed weights, SIMD) give the
# same distributions, teacher-forced, on a mixture-of-experts K-quant file; unknown: usage error.
moe=$(mktemp --suffix .gguf)
kld=$(mktemp)
"$BIN" gen-model --shape tiny --experts 8 --experts-used 2 --type q4_k_m \
  --vocab "$SHARED/testdata/tokenizer/ggml-vocab-llama-spm.gguf" -o "$moe" --seed 5 >/dev/null 2>&1
"$BIN" perplexity -m "$moe" -f "$(dirname "$0")/../data/perplexity.txt" --ctx 128 --backend reference \
  --kl-divergence-base "$kld" >/dev/null 2>&1
out=$("$BIN" perplexity -m "$moe" --backend cpu --kl-divergence-base "$kld" --kl-divergence --json 2>/dev/null)
check "backends agree (reference vs cpu)" ok "$(node -e "const j=JSON.parse(process.argv[1]); console.log(j.mean_kld < 1e-4 && j.same_top > 0.95 && Math.abs(j.ppl_ratio - 1) < 1e-3 ? 'ok' : JSON.stringify(j))" "$out")"
a=$("$BIN" run -m "$SHARED/models/stories260K.gguf" -p "Once upon a time" -n 24 --temp 0 --backend reference 2>/dev/null)
b=$(LLMCHAIN_BACKEND=cpu "$BIN" run -m "$SHARED/models/stories260K.gguf" -p "Once upon a time" -n 24 --temp 0 2>/dev/null)
check "run --backend reference = cpu" "$b" "$a"
"$BIN" run -m "$SHARED/models/stories260K.gguf" -p "x" -n 1 --backend cuda >/dev/null 2>&1; rc=$?
check "unknown backend: usage error" 2 "$rc"
rm -f "$moe" "$kld"

# Encoders: embed prints OpenAI's list of L2-normalised vectors; rerank scores documents with a
# cross-encoder; an encoder does not generate; rerank on a model without rank pooling fails (1).
vocab_bge="$SHARED/testdata/tokenizer/ggml-vocab-bert-bge.gguf"
bert=$(mktemp --suffix .gguf)
rank=$(mktemp --suffix .gguf)
"$BIN" gen-model --shape tiny --arch bert --pooling mean --type f16 --vocab "$vocab_bge" -o "$bert" --seed 3 >/dev/null 2>&1
"$BIN" gen-model --shape tiny --arch bert --pooling rank --type f32 --vocab "$vocab_bge" -o "$rank" --seed 3 >/dev/null 2>&1
out=$("$BIN" embed -m "$bert" "hello world" "a second text" 2>/dev/null)
check "embed: two unit vectors of n_embd" "2 256 1.0000 1.0000" "$(node -e "const j=JSON.parse(process.argv[1]); const n=(v)=>Math.sqrt(v.reduce((a,x)=>a+x*x,0)).toFixed(4); console.log(j.data.length, j.data[0].embedding.length, n(j.data[0].embedding), n(j.data[1].embedding))" "$out")"
out=$("$BIN" rerank -m "$rank" -q "hello" "first document" "second" "hello" 2>/dev/null)
check "rerank: every document scored, best first" "3 sorted" "$(node -e "const r=JSON.parse(process.argv[1]).results; console.log(r.length, r.every((x,i)=>i===0||r[i-1].relevance_score>=x.relevance_score)?'sorted':'unsorted')" "$out")"
"$BIN" run -m "$bert" -p "hello" -n 4 >/dev/null 2>&1; rc=$?
check "an encoder does not generate" 1 "$rc"
"$BIN" rerank -m "$bert" -q "hello" "doc" >/dev/null 2>&1; rc=$?
check "rerank needs rank pooling" 1 "$rc"
rm -f "$bert" "$rank"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
