# shellcheck shell=bash
# Sourced by the scripts that run real `llmchain serve` processes and read their /metrics
# (tests/metrics/run_metrics.sh, tests/monitoring/run_dashboard.sh). Needs BIN set to the
# llmchain binary (an absolute path: the servers run in the temp dir). Provides:
#   TMP                    a temp dir of this run (removed on exit, with the servers stopped)
#   fail MSG...            prints FAIL and exits 1
#   start NAME ARGS...     `llmchain serve ARGS --port 0` in the background, log $TMP/NAME.log;
#                          waits for /health/ready and sets PORT to the bound port
#   post PORT PATH JSON    POSTs JSON, prints the body; fails on a non-2xx status
# Each server binds port 0 and works in TMP, so runs in parallel do not collide.

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/llmchain-serve.XXXXXX")
PIDS=()
serve_lib_cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap serve_lib_cleanup EXIT

start() {
  local name=$1
  shift
  (cd "$TMP" && exec env LLMCHAIN_MEMORY_DIR="$TMP" "$BIN" serve --host 127.0.0.1 --port 0 --log-format text "$@") \
    >"$TMP/$name.log" 2>&1 &
  PIDS+=($!)
  local pid=$!
  PORT=""
  for _ in $(seq 1 300); do
    PORT=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$TMP/$name.log" 2>/dev/null | head -1 | sed 's/.*://' || true)
    [ -n "$PORT" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$TMP/$name.log" >&2; fail "$name exited before listening"; }
    sleep 0.1
  done
  [ -n "$PORT" ] || { cat "$TMP/$name.log" >&2; fail "$name did not start listening within 30 s"; }
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$PORT/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$TMP/$name.log" >&2
  fail "$name not ready within 30 s"
}

post() {
  curl -fsS --max-time 60 -H 'Content-Type: application/json' -d "$3" "http://127.0.0.1:$1$2" ||
    fail "POST $2 failed"
}
