#!/usr/bin/env bash
# The gateway's transports side by side: two engines (`serve --grpc-port`), one gateway with
# REST upstreams (http://) and one with gRPC upstreams (grpc://), and the same load
# (bench/load/load.mjs: streamed completions, closed loop) sent to: each gateway; the two
# engines directly, half the clients on each (the baseline with no gateway: its difference to
# a gateway is that transport's cost); and one engine directly with all the clients. One
# target after the other, alternating `--rounds` times. Prints each run's table and a summary:
# generated tok/s, TTFT p50/p99, end-to-end p50 and the gateway's added time per token.
#
#   bash scripts/bench_gateway_transports.sh [--clients 16] [--requests 2] [--max-tokens 64]
#        [--prompt-tokens 32] [--parallel 8] [-t THREADS_PER_ENGINE] [--rounds 2] MODEL
#
# Env: LLMCHAIN_BIN (default build/apps/llmchain). All processes share this machine's cores:
# the differences between targets are the transports' cost on top of the same engines.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${LLMCHAIN_BIN:-$root/build/apps/llmchain}"
clients=16 requests=2 max_tokens=64 prompt_tokens=32 parallel=8 threads=1 rounds=2 model=""
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients="$2"; shift 2 ;;
    --requests) requests="$2"; shift 2 ;;
    --max-tokens) max_tokens="$2"; shift 2 ;;
    --prompt-tokens) prompt_tokens="$2"; shift 2 ;;
    --parallel) parallel="$2"; shift 2 ;;
    -t) threads="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) model="$1"; shift ;;
  esac
done
[ -n "$model" ] || { sed -n 8,9p "$0" >&2; exit 2; }
[ -x "$bin" ] || { echo "error: $bin not found (build first, or set LLMCHAIN_BIN)" >&2; exit 1; }
command -v node >/dev/null || { echo "error: node not found (scripts/setup.sh installs it)" >&2; exit 1; }

port_of() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
logs=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
wait_ready() {
  for _ in $(seq 600); do
    curl -fsS -m 2 "$1/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "error: $1 not ready (logs in $logs)" >&2
  exit 1
}

ea=$(port_of) eb=$(port_of) ga=$(port_of) gb=$(port_of) rest=$(port_of) grpc=$(port_of)
for e in "a $ea $ga" "b $eb $gb"; do
  set -- $e
  "$bin" serve --host 127.0.0.1 --port "$2" --grpc-port "$3" -m "$model" --parallel "$parallel" --threads "$threads" \
    --no-ui >"$logs/engine-$1.log" 2>&1 &
  pids+=($!)
done
"$bin" serve --role gateway --host 127.0.0.1 --port "$rest" \
  --upstream "http://127.0.0.1:$ea" --upstream "http://127.0.0.1:$eb" >"$logs/gateway-rest.log" 2>&1 &
pids+=($!)
"$bin" serve --role gateway --host 127.0.0.1 --port "$grpc" \
  --upstream "grpc://127.0.0.1:$ga" --upstream "grpc://127.0.0.1:$gb" >"$logs/gateway-grpc.log" 2>&1 &
pids+=($!)
for p in "$ea" "$eb" "$rest" "$grpc"; do wait_ready "http://127.0.0.1:$p"; done
echo "engines :$ea (grpc :$ga) and :$eb (grpc :$gb), parallel $parallel, $threads thread(s) each; model $model" >&2
echo "uptime: $(uptime)" >&2

declare -A url=([one]="http://127.0.0.1:$ea" [rest]="http://127.0.0.1:$rest" [grpc]="http://127.0.0.1:$grpc")
results=$(mktemp)
load() {  # url clients
  node "$root/bench/load/load.mjs" --url "$1" --levels "$2" --requests "$requests" --max-tokens "$max_tokens" \
    --prompt-tokens "$prompt_tokens"
}
row() { awk '$1 ~ /^[0-9]+$/ {print $3, $4, $5, $6, $7}'; }  # errors tok/s ttft50 ttft99 e2e50
echo "warm-up (not counted)" >&2
for u in "http://127.0.0.1:$rest" "http://127.0.0.1:$grpc" "http://127.0.0.1:$eb" "http://127.0.0.1:$ea"; do
  load "$u" 4 >/dev/null
done
for round in $(seq "$rounds"); do
  for target in rest grpc split one; do
    if [ "$target" = split ]; then
      echo "== round $round: split (half the clients on each engine, no gateway)"
      half=$((clients / 2))
      load "http://127.0.0.1:$ea" "$half" >"$logs/split-a.txt" &
      pa=$!
      load "http://127.0.0.1:$eb" "$((clients - half))" >"$logs/split-b.txt"
      wait "$pa"
      cat "$logs/split-a.txt" "$logs/split-b.txt"
      # Sum of the two tok/s; the larger of the two percentiles (an upper bound of the whole's).
      paste <(row <"$logs/split-a.txt") <(row <"$logs/split-b.txt") | awk '{e = $1 + $6; t = $2 + $7; p50 = ($3 > $8 ? $3 : $8); p99 = ($4 > $9 ? $4 : $9); e2e = ($5 > $10 ? $5 : $10);
         print "split", e, t, p50, p99, e2e}' >>"$results"
    else
      echo "== round $round: $target (${url[$target]})"
      out=$(load "${url[$target]}" "$clients")
      echo "$out"
      echo "$out" | row | awk -v t="$target" '{print t, $0}' >>"$results"
    fi
  done
done
echo
echo "target  runs  errors  gen tok/s (each run)        TTFT p50 ms      TTFT p99 ms      e2e p50 ms       +ms/token vs split"
base=$(awk '$1 == "split" {s += $6; n++} END {if (n) print s / n}' "$results")
for target in rest grpc split one; do
  awk -v t="$target" -v base="$base" -v mt="$max_tokens" '$1 == t {n++; err += $2; tps = tps sprintf(" %.1f", $3);
    p50 = p50 sprintf(" %.0f", $4); p99 = p99 sprintf(" %.0f", $5); e2e = e2e sprintf(" %.0f", $6); sum += $6}
    END {printf "%-7s %4d  %6d  %-26s %-16s %-16s %-16s %+.2f\n", t, n, err, tps, p50, p99, e2e, (sum / n - base) / mt}' "$results"
done
echo "(rest, grpc: through a gateway to both engines; split: half the clients straight to each engine;"
echo " one: every client straight to one engine; +ms/token: (mean e2e p50 - split's) / max_tokens)"
