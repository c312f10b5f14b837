#!/usr/bin/env bash
# End-to-end checks of `llmchain pull` against tests/tools/pull_server.js.
# Usage: pull_test.sh LLMCHAIN_BINARY
set -u
BIN=$1
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
PORT_FILE=$WORK/port
node "$HERE/pull_server.js" >"$PORT_FILE" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; chmod -R u+w "$WORK"; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do [ -s "$PORT_FILE" ] && break; sleep 0.1; done
PORT=$(head -1 "$PORT_FILE")
[ -n "$PORT" ] || { echo "FAIL: test server did not start"; exit 1; }
URL=http://127.0.0.1:$PORT
fails=0
check() {  # check NAME CONDITION...
  local name=$1; shift
  if "$@"; then echo "ok: $name"; else echo "FAIL: $name"; fails=$((fails + 1)); fi
}

# Reference digest of the served bytes (the full download is the reference).
"$BIN" pull "$URL/model.gguf" -o "$WORK/full" >/dev/null 2>"$WORK/err" ; rc=$?
check "full download succeeds" test $rc -eq 0
check "full download has 1 MiB" test "$(stat -c %s "$WORK/full/model.gguf" 2>/dev/null)" = 1048576
check "no .part left" test ! -e "$WORK/full/model.gguf.part"
SUM=$(sha256sum "$WORK/full/model.gguf" | cut -d' ' -f1)

"$BIN" pull "$URL/model.gguf" -o "$WORK/sum" --sha256 "$SUM" >/dev/null 2>"$WORK/err"; rc=$?
check "correct sha256 accepted" test $rc -eq 0

# Interrupted transfer: the .part keeps what arrived, the next run resumes it.
"$BIN" pull "$URL/cut.gguf" -o "$WORK/cut" >/dev/null 2>"$WORK/err"; rc=$?
check "cut transfer fails" test $rc -ne 0
check "cut transfer keeps a partial .part" test "$(stat -c %s "$WORK/cut/cut.gguf.part" 2>/dev/null || echo 0)" -gt 0
check "cut transfer leaves no final file" test ! -e "$WORK/cut/cut.gguf"
"$BIN" pull "$URL/cut.gguf" -o "$WORK/cut" --sha256 "$SUM" >/dev/null 2>"$WORK/err"; rc=$?
check "resume succeeds" test $rc -eq 0
check "resume says so" grep -q "resumed at" "$WORK/err"
check "resumed file is identical" test "$(sha256sum "$WORK/cut/cut.gguf" 2>/dev/null | cut -d' ' -f1)" = "$SUM"

BAD=0000000000000000000000000000000000000000000000000000000000000000
"$BIN" pull "$URL/model.gguf" -o "$WORK/bad" --sha256 $BAD >/dev/null 2>"$WORK/err"; rc=$?
check "wrong sha256 rejected" test $rc -ne 0
check "wrong sha256 message" grep -q "sha256 mismatch" "$WORK/err"
check "wrong sha256 removes .part" test ! -e "$WORK/bad/model.gguf.part" -a ! -e "$WORK/bad/model.gguf"

"$BIN" pull "$URL/error.gguf" -o "$WORK/e500" >/dev/null 2>"$WORK/err"; rc=$?
check "HTTP 500 fails" test $rc -ne 0
check "HTTP 500 reported" grep -q "HTTP status 500" "$WORK/err"

mkdir -p "$WORK/ro" && chmod a-w "$WORK/ro"
if [ "$(id -u)" != 0 ]; then
  "$BIN" pull "$URL/model.gguf" -o "$WORK/ro" >/dev/null 2>"$WORK/err"; rc=$?
  check "unwritable directory fails" test $rc -ne 0
  check "unwritable directory reported" grep -q "not writable" "$WORK/err"
fi

# A complete download that is not GGUF (a login or error page served with 200) is refused
# before it gets the model's name, and removed.
"$BIN" pull "$URL/page.gguf" -o "$WORK/page" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "non-GGUF download exits 1" test $rc -eq 1
check "non-GGUF message names the URL" grep -q "$URL/page.gguf: not a GGUF file" "$WORK/err"
check "non-GGUF leaves no file" test ! -e "$WORK/page/page.gguf" -a ! -e "$WORK/page/page.gguf.part"
check "non-GGUF prints nothing on stdout" test ! -s "$WORK/out"

# Usage errors exit 2 with the message on stderr.
"$BIN" pull "ftp://example.com/x.gguf" >"$WORK/out" 2>"$WORK/err"; rc=$?
check "bad scheme exits 2" test $rc -eq 2
check "bad scheme reported" grep -q "ftp://example.com/x.gguf" "$WORK/err"
"$BIN" pull "$URL/model.gguf" -o "$WORK/short" --sha256 abc123 >"$WORK/out" 2>"$WORK/err"; rc=$?
check "malformed --sha256 exits 2" test $rc -eq 2
check "malformed --sha256 downloads nothing" test ! -e "$WORK/short"

# On a terminal the progress bar is redrawn at most ~10 times a second (plus the final 100%),
# not once per 4 KiB received (256 times for this file).
if command -v script >/dev/null; then
  script -qec "'$BIN' pull '$URL/slow.gguf' -o '$WORK/slow'" /dev/null </dev/null >"$WORK/tty" 2>&1; rc=$?
  check "download on a terminal succeeds" test $rc -eq 0
  draws=$(node -e "const s=require('fs').readFileSync(process.argv[1],'latin1'); console.log((s.match(/\rpull \[/g)||[]).length)" "$WORK/tty")
  check "progress redraws bounded ($draws in about 1 s)" test "$draws" -ge 2 -a "$draws" -le 30
  check "progress ends at 100%" grep -q "100.0%" "$WORK/tty"
else
  echo "skip: progress redraws (no script(1) for a terminal)"
fi

[ $fails -eq 0 ] || { echo "$fails check(s) failed"; exit 1; }
echo "all pull checks passed"
