#!/usr/bin/env bash
# Smoke test of the container image (build it first: scripts/docker_build.sh):
#  1. docker run: one engine, read-only root filesystem, no capabilities, the
#     shared models mounted at /models; checks /health/ready, a completion and
#     the image's HEALTHCHECK;
#  2. docker compose (deploy/compose.yaml): a gateway, two engine replicas
#     sharing a model volume (reached over gRPC) and Redis; checks the gateway's
#     /health/ready, that it sees both engines, a chat completion through it, and
#     a memory chain whose session is in Redis and survives a Redis restart.
# Every wait is bounded. Too slow for CI (image build: tens of minutes on 2
# cores); run it by hand after changing deploy/.
#   bash scripts/docker_smoke.sh
#   IMAGE=llmchain:dev MODELS_DIR=/abs/models MODEL_FILE=stories260K.gguf bash scripts/docker_smoke.sh
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-llmchain:dev}
MODELS_DIR=${MODELS_DIR:-$(cd ../shared/models 2>/dev/null && pwd || echo /work/shared/models)}
MODEL_FILE=${MODEL_FILE:-stories260K.gguf}
PORT=${PORT:-18080}
NAME=llmchain-smoke-$$
PROJECT=llmchain-smoke-$$
BASE="http://127.0.0.1:$PORT"

say() { echo "docker_smoke: $*" >&2; }
die() { say "FAIL: $*"; exit 1; }
compose() {
  if docker compose version >/dev/null 2>&1; then
    docker compose "$@"
  elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose --compatibility "$@"  # v1 needs --compatibility for deploy.replicas
  else
    return 127
  fi
}
cleanup() {
  docker rm -f "$NAME" >/dev/null 2>&1 || true
  LLMCHAIN_MODELS_DIR="$MODELS_DIR" compose -p "$PROJECT" -f deploy/compose.yaml down -v --remove-orphans >/dev/null 2>&1 || true
}
trap cleanup EXIT
wait_http() {  # url seconds
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    curl -fsS -m 3 "$1" >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}
completion() {  # path body -> prints the body, fails unless HTTP 200
  curl -fsS -m 60 "$BASE$1" -H 'Content-Type: application/json' -d "$2"
}

docker image inspect "$IMAGE" >/dev/null 2>&1 || die "no image $IMAGE (run scripts/docker_build.sh)"
[ -f "$MODELS_DIR/$MODEL_FILE" ] || die "no model $MODELS_DIR/$MODEL_FILE"

say "1/2 docker run $IMAGE (model $MODEL_FILE)"
docker run -d --name "$NAME" --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
  -p "127.0.0.1:$PORT:8080" -v "$MODELS_DIR:/models:ro" \
  "$IMAGE" serve --host 0.0.0.0 --port 8080 -m "/models/$MODEL_FILE" >/dev/null
wait_http "$BASE/health/ready" 120 || { docker logs "$NAME" 2>&1 | tail -20; die "engine not ready in 120 s"; }
out=$(completion /v1/completions '{"prompt":"Once upon a time","max_tokens":16}') || die "completion failed"
say "completion: $out"
[ "$(docker inspect -f '{{.Config.User}}' "$NAME")" = "10001:10001" ] || die "the container does not run as uid 10001"
end=$((SECONDS + 90))
while [ "$(docker inspect -f '{{.State.Health.Status}}' "$NAME")" != healthy ]; do
  [ $SECONDS -lt $end ] || die "HEALTHCHECK not healthy in 90 s"
  sleep 2
done
say "HEALTHCHECK: healthy"
docker rm -f "$NAME" >/dev/null

say "2/2 docker compose: gateway + 2 engines"
if ! docker run --rm "$IMAGE" serve --help 2>/dev/null | grep -q -- '--role'; then
  say "SKIP compose: this image's llmchain serve has no --role yet"
  say "PASS (docker run only)"
  exit 0
fi
compose version >/dev/null 2>&1 || { say "SKIP compose: no docker compose / docker-compose"; say "PASS (docker run only)"; exit 0; }
LLMCHAIN_IMAGE="$IMAGE" LLMCHAIN_MODELS_DIR="$MODELS_DIR" LLMCHAIN_MODEL_FILE="$MODEL_FILE" LLMCHAIN_PORT="$PORT" \
  compose -p "$PROJECT" -f deploy/compose.yaml up -d
wait_http "$BASE/health/ready" 180 || { compose -p "$PROJECT" -f deploy/compose.yaml logs --tail 20; die "gateway not ready"; }
end=$((SECONDS + 60))
until [ "$(curl -fsS -m 3 "$BASE/gateway/upstreams" | grep -o '"healthy":true' | wc -l)" -ge 2 ]; do
  [ $SECONDS -lt $end ] || die "the gateway does not see two healthy engines: $(curl -s "$BASE/gateway/upstreams")"
  sleep 2
done
say "gateway sees two healthy engines"
out=$(completion /v1/chat/completions '{"messages":[{"role":"user","content":"Tell me a story"}],"max_tokens":16}') ||
  die "chat completion through the gateway failed"
say "chat completion through the gateway: $out"
chain_turn() {  # question -> prints the chain's answer body
  completion /chains/customer_service/invoke \
    "{\"input\":{\"question\":\"$1\"},\"config\":{\"configurable\":{\"session_id\":\"smoke\"}}}"
}
redis_history() {  # prints what Redis holds of the chains' sessions
  compose -p "$PROJECT" -f deploy/compose.yaml exec -T redis sh -c \
    'for k in $(redis-cli --scan); do redis-cli --raw lrange "$k" 0 -1 2>/dev/null; done'
}
chain_turn "Hello, my name is Ann" >/dev/null || die "memory chain turn 1 failed"
chain_turn "What is my name?" >/dev/null || die "memory chain turn 2 failed"
redis_history | grep -q "my name is Ann" || die "the session's history is not in Redis"
say "memory chain: two turns, history in Redis"
compose -p "$PROJECT" -f deploy/compose.yaml restart redis >/dev/null
end=$((SECONDS + 60))
until redis_history 2>/dev/null | grep -q "my name is Ann"; do
  [ $SECONDS -lt $end ] || die "the history did not survive a Redis restart"
  sleep 2
done
chain_turn "And my name again?" >/dev/null || die "memory chain turn after the Redis restart failed"
say "memory chain: history intact after a Redis restart"
say "PASS"
