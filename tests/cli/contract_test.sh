#!/usr/bin/env bash
# The command-line contract, for every subcommand (apps/cmd_*.cpp):
#   good input      -> exit 0; stdout holds only the result (no log lines; JSON where promised)
#   usage error     -> exit 2; the message on stderr, nothing on stdout
#   missing/corrupt -> exit 1; a message naming the file (or URL), nothing on stdout
# Parallel-safe: its own temp dir, ports chosen by the kernel.
# usage: contract_test.sh LLMCHAIN_BINARY SHARED_DIR SOURCE_DIR
set -u
BIN=$1
SHARED=$2
SRC=$3
MODEL=$SHARED/models/stories260K.gguf
VOCAB=$SHARED/testdata/tokenizer/ggml-vocab-llama-spm.gguf
VOCAB_NO_PRE=$SHARED/testdata/tokenizer/ggml-vocab-gpt-neox.gguf  # no tokenizer.ggml.pre: logs a warning
T=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
export LLMCHAIN_MEMORY_DIR=$T  # chains with sqlite memory write there
unset LLMCHAIN_LOG_LEVEL LLMCHAIN_PORT LLMCHAIN_MODEL
cd "$T" || exit 1

MISSING=$T/missing/nothing.gguf
CORRUPT=$T/corrupt.gguf
printf 'this is a text file, not a model\n' >"$CORRUPT"
printf 'chains: [unclosed\n' >"$T/corrupt.yaml"

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() {
  fail=$((fail + 1))
  printf 'FAIL %s\n' "$1"
  printf '  exit %s\n  stdout: %s\n  stderr: %s\n' "$rc" "$(head -c 600 "$T/out")" "$(head -c 600 "$T/err")"
}

# run ARGS...: the binary with stdout, stderr and the exit code kept for the checks below.
run() {
  "$BIN" "$@" >"$T/out" 2>"$T/err" </dev/null
  rc=$?
}

# Log lines that must never reach stdout: spdlog's "[info]" / "[warning]" levels and timestamps.
has_log_lines() { grep -Eq '\[(trace|debug|info|warning|warn|error|critical)\]|^\[[0-9]{2}:[0-9]{2}:[0-9]{2}|\[20[0-9]{2}-' "$1"; }
is_json() { node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$1" 2>/dev/null; }

# expect_ok NAME [json] -- ARGS...
expect_ok() {
  local name=$1 json=no
  shift
  [ "$1" == json ] && { json=yes; shift; }
  [ "$1" == -- ] && shift
  run "$@"
  if [ $rc -ne 0 ]; then
    bad "$name: exit 0"
  elif has_log_lines "$T/out"; then
    bad "$name: no log lines on stdout"
  elif [ $json == yes ] && ! is_json "$T/out"; then
    bad "$name: stdout is JSON"
  else
    ok
  fi
}

# expect_usage NAME ARGS...: exit 2, a message on stderr, nothing on stdout.
expect_usage() {
  local name=$1
  shift
  run "$@"
  if [ $rc -ne 2 ]; then
    bad "$name: exit 2"
  elif [ -s "$T/out" ]; then
    bad "$name: nothing on stdout"
  elif [ ! -s "$T/err" ]; then
    bad "$name: a message on stderr"
  else
    ok
  fi
}

# expect_fail NAME WHAT ARGS...: exit 1, stderr names WHAT (a file or URL), nothing on stdout.
expect_fail() {
  local name=$1 what=$2
  shift 2
  run "$@"
  if [ $rc -ne 1 ]; then
    bad "$name: exit 1"
  elif ! grep -qF -- "$what" "$T/err"; then
    bad "$name: stderr names $what"
  elif [ -s "$T/out" ]; then
    bad "$name: nothing on stdout"
  else
    ok
  fi
}

# ---- whole program ----
run --help
[ $rc -eq 0 ] && grep -q serve "$T/out" && ok || bad "--help: exit 0 with usage on stdout"
run --version
[ $rc -eq 0 ] && grep -q llmchain "$T/out" && ok || bad "--version: exit 0"
expect_usage "no subcommand"
expect_usage "unknown subcommand" frobnicate
expect_usage "unknown global flag" --frobnicate
run run --help
[ $rc -eq 0 ] && ok || bad "run --help: exit 0"

# ---- run ----
expect_ok "run" -- run -m "$MODEL" -p "Once upon a time" -n 8 --temp 0 -t 2
expect_ok "run -v (logs on stderr only)" -- run -m "$MODEL" -p "Once" -n 4 --temp 0 -t 2 -v
LLMCHAIN_LOG_LEVEL=debug expect_ok "run with LLMCHAIN_LOG_LEVEL=debug" -- run -m "$MODEL" -p "Once" -n 4 -t 2
expect_usage "run: unknown flag" run -m "$MODEL" --frobnicate
expect_usage "run: missing -m" run -p "Once"
expect_usage "run: bad number" run -m "$MODEL" -n many
expect_usage "run: unknown chat template" run -m "$MODEL" -p x --chat --chat-template bogus
expect_fail "run: missing model" "$MISSING" run -m "$MISSING" -p x
expect_fail "run: corrupt model" "$CORRUPT" run -m "$CORRUPT" -p x
expect_fail "run: missing prompt file" "$T/no-prompt.txt" run -m "$MODEL" -f "$T/no-prompt.txt"

# ---- tokenize / detokenize ----
expect_ok "tokenize" json -- tokenize -m "$VOCAB" "Hello world"
expect_ok "tokenize --pieces" json -- tokenize -m "$MODEL" --pieces "Hello world"
expect_ok "tokenize, vocab without pre (warning to stderr)" json -- tokenize -m "$VOCAB_NO_PRE" "Hello world"
expect_usage "tokenize: unknown flag" tokenize -m "$VOCAB" --frobnicate x
expect_usage "tokenize: missing -m" tokenize "Hello"
expect_fail "tokenize: missing vocab" "$MISSING" tokenize -m "$MISSING" x
expect_fail "tokenize: corrupt vocab" "$CORRUPT" tokenize -m "$CORRUPT" x
expect_fail "tokenize: missing text file" "$T/no-text.txt" tokenize -m "$VOCAB" -f "$T/no-text.txt"

expect_ok "detokenize" -- detokenize -m "$MODEL" 1 403 407
expect_usage "detokenize: unknown flag" detokenize -m "$MODEL" --frobnicate 1
expect_usage "detokenize: missing ids" detokenize -m "$MODEL"
expect_usage "detokenize: bad id" detokenize -m "$MODEL" 1 two
expect_usage "detokenize: id outside the vocabulary" detokenize -m "$MODEL" 99999999
expect_fail "detokenize: missing vocab" "$MISSING" detokenize -m "$MISSING" 1
expect_fail "detokenize: corrupt vocab" "$CORRUPT" detokenize -m "$CORRUPT" 1

# ---- info ----
expect_ok "info" -- info "$MODEL"
expect_ok "info --json" json -- info "$MODEL" --json
expect_usage "info: unknown flag" info "$MODEL" --frobnicate
expect_usage "info: missing file argument" info
expect_fail "info: missing file" "$MISSING" info "$MISSING"
expect_fail "info: corrupt file" "$CORRUPT" info "$CORRUPT"

# ---- bench ----
expect_ok "bench --json" json -- bench -m "$MODEL" -p 8 -n 4 -r 1 -t 2 --json
expect_usage "bench: unknown flag" bench -m "$MODEL" --frobnicate
expect_usage "bench: missing -m" bench -p 8
expect_usage "bench: negative -p" bench -m "$MODEL" -p -3
expect_fail "bench: missing model" "$MISSING" bench -m "$MISSING" -p 8 -n 4 -r 1
expect_fail "bench: corrupt model" "$CORRUPT" bench -m "$CORRUPT" -p 8 -n 4 -r 1

# ---- gen-model ----
expect_ok "gen-model" -- gen-model --shape tiny --type q8_0 --vocab "$VOCAB" -o "$T/gen.gguf" -t 2
if [ $rc -eq 0 ]; then
  run info "$T/gen.gguf" --json
  [ $rc -eq 0 ] && is_json "$T/out" && ok || bad "gen-model: the output is a GGUF info reads"
fi
expect_usage "gen-model: unknown flag" gen-model --vocab "$VOCAB" -o "$T/g.gguf" --frobnicate
expect_usage "gen-model: missing -o" gen-model --vocab "$VOCAB"
expect_usage "gen-model: unknown shape" gen-model --shape huge --vocab "$VOCAB" -o "$T/g.gguf"
expect_usage "gen-model: unknown type" gen-model --shape tiny --type q9_9 --vocab "$VOCAB" -o "$T/g.gguf"
expect_fail "gen-model: missing vocab" "$MISSING" gen-model --shape tiny --vocab "$MISSING" -o "$T/g.gguf"
expect_fail "gen-model: corrupt vocab" "$CORRUPT" gen-model --shape tiny --vocab "$CORRUPT" -o "$T/g.gguf"

# ---- quantize ----
expect_ok "quantize" -- quantize "$MODEL" "$T/q8.gguf" q8_0 -t 2
expect_usage "quantize: unknown flag" quantize "$MODEL" "$T/q.gguf" q8_0 --frobnicate
expect_usage "quantize: missing type" quantize "$MODEL" "$T/q.gguf"
expect_usage "quantize: unknown type" quantize "$MODEL" "$T/q.gguf" q9_9
expect_fail "quantize: missing input" "$MISSING" quantize "$MISSING" "$T/q.gguf" q8_0
expect_fail "quantize: corrupt input" "$CORRUPT" quantize "$CORRUPT" "$T/q.gguf" q8_0

# ---- perplexity ----
TEXT=$SRC/tests/data/perplexity.txt
expect_ok "perplexity --json" json -- perplexity -m "$MODEL" -f "$TEXT" -c 64 -t 2 --json
expect_usage "perplexity: unknown flag" perplexity -m "$MODEL" -f "$TEXT" --frobnicate
expect_usage "perplexity: missing -f" perplexity -m "$MODEL"
expect_usage "perplexity: -c out of range" perplexity -m "$MODEL" -f "$TEXT" -c 1
expect_fail "perplexity: missing text" "$T/no-text.txt" perplexity -m "$MODEL" -f "$T/no-text.txt"
expect_fail "perplexity: missing model" "$MISSING" perplexity -m "$MISSING" -f "$TEXT"
expect_fail "perplexity: corrupt model" "$CORRUPT" perplexity -m "$CORRUPT" -f "$TEXT"

# ---- chain run / chain list ----
CHAINS=$SRC/examples/chains.yaml
expect_ok "chain run (local model)" -- chain run "$CHAINS" product_description -i product="wool socks" -m "$MODEL" -t 2
expect_ok "chain run (fake model)" -- chain run "$CHAINS" product_description -i product="wool socks" -m demo
# The JSON chains answer JSON on a model that knows no JSON (constrained, within the budget).
expect_ok "chain run recommendation (JSON)" json -- chain run "$CHAINS" recommendation -i query="a good novel" -m "$MODEL" -t 2
expect_ok "chain run translation (JSON)" json -- chain run "$CHAINS" translation -i text=hello -m "$MODEL" -t 2
expect_ok "chain run music (JSON)" json -- chain run "$CHAINS" music_recommendations -i query=jazz -m "$MODEL" -t 2
# Tool calling on the local model: the tools reach the chat template, a named tool_choice makes
# the reply a valid call, and the chain's output is the message with OpenAI-shaped tool_calls.
cat >"$T/tools.yaml" <<'YAML'
models:
  local: {path: model.gguf}
chains:
  pick:
    model: local
    prompt:
      messages:
        - user: "Pick a {thing}."
    params:
      max_tokens: 48
      temperature: 0
      tools:
        - type: function
          function:
            name: pick_color
            parameters:
              type: object
              properties: {color: {type: string, enum: [red, green, blue]}}
              required: [color]
      tool_choice: {type: function, function: {name: pick_color}}
YAML
expect_ok "chain run with tools (JSON)" json -- chain run "$T/tools.yaml" pick -i thing=color -m "$MODEL" -t 2
call=$(node -e 'const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const c = (o.tool_calls || [])[0] || {}; const f = c.function || {};
  const a = JSON.parse(f.arguments || "null");
  console.log(f.name, a && ["red", "green", "blue"].includes(a.color) ? "valid" : JSON.stringify(o))' "$T/out" 2>&1)
if [ "$call" == "pick_color valid" ]; then ok; else bad "chain run with tools: a pick_color call ($call)"; fi
expect_ok "chain list" -- chain list "$CHAINS"
expect_ok "chain list -m" -- chain list "$CHAINS" -m demo
expect_usage "chain: no subcommand" chain
expect_usage "chain run: unknown flag" chain run "$CHAINS" product_description --frobnicate
expect_usage "chain run: missing chain name" chain run "$CHAINS"
expect_usage "chain run: input without =" chain run "$CHAINS" product_description -i product -m demo
expect_usage "chain list: unknown flag" chain list "$CHAINS" --frobnicate
expect_usage "chain list: missing file argument" chain list
expect_fail "chain run: missing file" "$T/none.yaml" chain run "$T/none.yaml" product_description -m demo
expect_fail "chain run: corrupt file" "$T/corrupt.yaml" chain run "$T/corrupt.yaml" product_description -m demo
expect_fail "chain run: missing model" "$MISSING" chain run "$CHAINS" product_description -i product=x -m "$MISSING"
expect_fail "chain run: corrupt model" "$CORRUPT" chain run "$CHAINS" product_description -i product=x -m "$CORRUPT"
expect_fail "chain list: missing file" "$T/none.yaml" chain list "$T/none.yaml"
expect_fail "chain list: corrupt file" "$T/corrupt.yaml" chain list "$T/corrupt.yaml"
# Aliases: one that refers to itself, and a "billion laughs" file (9^8 expansions in 600 bytes),
# fail cleanly naming the file instead of overflowing the stack or exhausting memory.
printf 'models:\n  m: &x {type: fake, responses: [a], params: {stop: *x}}\nchains:\n  c: {model: m, prompt: "{q}"}\n' \
  >"$T/self-alias.yaml"
{
  printf 'server:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n'
  for i in 1 2 3 4 5 6 7 8; do
    p=$((i - 1))
    printf '  a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n' $i $i $p $p $p $p $p $p $p $p $p
  done
} >"$T/laughs.yaml"
expect_fail "chain list: self-referencing alias" "$T/self-alias.yaml" chain list "$T/self-alias.yaml"
expect_fail "chain list: billion laughs" "$T/laughs.yaml" chain list "$T/laughs.yaml"

# ---- pull (against tests/tools/pull_server.js) ----
node "$SRC/tests/tools/pull_server.js" >"$T/pull_port" &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$T/pull_port" ] && break; sleep 0.1; done
URL=http://127.0.0.1:$(head -1 "$T/pull_port")
expect_ok "pull" -- pull "$URL/model.gguf" -o "$T/pulled"
[ "$(cat "$T/out")" == "$T/pulled/model.gguf" ] && ok || bad "pull: stdout is the downloaded path"
expect_usage "pull: unknown flag" pull "$URL/model.gguf" --frobnicate
expect_usage "pull: missing source" pull
expect_usage "pull: not a URL" pull "ftp://example.com/x.gguf"
expect_fail "pull: missing file (404)" "$URL/none.gguf" pull "$URL/none.gguf" -o "$T/pulled"
expect_fail "pull: not a GGUF file" "$URL/page.gguf" pull "$URL/page.gguf" -o "$T/pulled"

# ---- serve ----
# start_serve LOG ARGS...: starts serve in the background; SERVE_PID, and SERVE_PORT once it listens
# (the port comes from its "listening on" log line, so the kernel picks free ports).
start_serve() {
  local log=$1
  shift
  "$BIN" serve "$@" >"$log.out" 2>"$log.err" </dev/null &
  SERVE_PID=$!
  PIDS+=($SERVE_PID)
  SERVE_PORT=
  for _ in $(seq 100); do
    SERVE_PORT=$(sed -n 's|.*listening on http://[^ ]*:\([0-9][0-9]*\).*|\1|p' "$log.err" | head -1)
    [ -n "$SERVE_PORT" ] && break
    kill -0 $SERVE_PID 2>/dev/null || break
    sleep 0.1
  done
}
start_serve "$T/serve" -m "$MODEL" --host 127.0.0.1 --port 0 --threads 2
ready=
if [ -n "$SERVE_PORT" ]; then
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$SERVE_PORT/health/ready" >/dev/null && { ready=yes; break; }
    sleep 0.1
  done
fi
[ -n "$ready" ] && ok || { rc=-; cp "$T/serve.err" "$T/err"; : >"$T/out"; bad "serve: ready on /health/ready"; }

if [ -n "$SERVE_PORT" ]; then
  # A second server on the busy port fails instead of sharing it (SO_REUSEPORT).
  run serve -m "$MODEL" --host 127.0.0.1 --port "$SERVE_PORT" --threads 2
  if [ $rc -ne 0 ] && grep -q "address already in use" "$T/err" && [ ! -s "$T/out" ]; then ok; else bad "serve: busy port"; fi
  # The first server still answers alone.
  curl -sf "http://127.0.0.1:$SERVE_PORT/health/ready" >/dev/null && ok || bad "serve: first server still ready"
fi
kill -TERM $SERVE_PID 2>/dev/null
wait $SERVE_PID
rc=$?
cp "$T/serve.out" "$T/out"
cp "$T/serve.err" "$T/err"
if [ $rc -ne 0 ]; then
  bad "serve: SIGTERM exits 0"
elif [ -s "$T/out" ]; then
  bad "serve: nothing on stdout"
else
  ok
fi

expect_usage "serve: unknown flag" serve -m "$MODEL" --frobnicate
expect_usage "serve: no model" serve --port 0
expect_usage "serve: port out of range" serve -m "$MODEL" --port 83826
LLMCHAIN_PORT=83826 expect_usage "serve: LLMCHAIN_PORT out of range" serve -m "$MODEL"
printf 'server:\n  port: 83826\n' >"$T/port.yaml"
expect_usage "serve: config port out of range" serve -m "$MODEL" --config "$T/port.yaml"
expect_usage "serve: bad --log-level" serve -m "$MODEL" --port 0 --log-level loud
expect_fail "serve: missing config" "$T/none.yaml" serve -m "$MODEL" --port 0 --config "$T/none.yaml"
expect_fail "serve: self-referencing alias in config" "$T/self-alias.yaml" serve -m "$MODEL" --port 0 \
  --config "$T/self-alias.yaml"
expect_fail "serve: billion laughs config" "$T/laughs.yaml" serve -m "$MODEL" --port 0 --config "$T/laughs.yaml"
expect_fail "serve: missing chains file" "$T/none.yaml" serve -m "$MODEL" --port 0 --chains "$T/none.yaml"
expect_fail "serve: missing model" "$MISSING" serve -m "$MISSING" --port 0
expect_fail "serve: corrupt model" "$CORRUPT" serve -m "$CORRUPT" --port 0

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
