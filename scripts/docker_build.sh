#!/usr/bin/env bash
# Builds the llmchain container image from the root Dockerfile (context: the
# repository root; plain `docker build -t llm-app .` builds the same image).
# Makes sure a Docker daemon and the Debian base images exist first
# (scripts/make_base_image.sh builds them offline with debootstrap when no
# registry answers). Extra arguments go to `docker build`.
#   bash scripts/docker_build.sh                       # -> llmchain:dev
#   IMAGE=registry.example.com/llmchain:0.1.0 bash scripts/docker_build.sh
# The build runs on the host network (the build stage installs packages from
# Debian's archive); JOBS limits parallel compile jobs (default: all cores).
# CONTEXT=git builds what is committed (git archive HEAD) instead of the
# working tree: reproducible, and unaffected by work in progress.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-llmchain:dev}
bash scripts/make_base_image.sh
args=(-f Dockerfile -t "$IMAGE" --network "${DOCKER_BUILD_NETWORK:-host}")
[ -n "${JOBS:-}" ] && args+=(--build-arg "BUILD_JOBS=$JOBS")
echo "docker_build: building $IMAGE" >&2
if [ "${CONTEXT:-tree}" = git ]; then
  echo "docker_build: context = git archive $(git rev-parse --short HEAD)" >&2
  git archive --format=tar HEAD | docker build "${args[@]}" "$@" -
else
  docker build "${args[@]}" "$@" .
fi
docker image inspect "$IMAGE" --format 'docker_build: {{.RepoTags}} {{.Size}} bytes, user {{.Config.User}}' >&2
