# llmchain: one image for every role (engine, gateway, all).
# Build context: the repository root (.dockerignore keeps build folders, .git,
# node_modules and models out of it).
#
#   docker build -t llm-app .                  # or: bash scripts/docker_build.sh (-> llmchain:dev)
#   docker run --rm -p 8080:8080 -v /path/to/models:/models:ro llm-app
#
# Runs as an unprivileged user (uid 10001) and writes nothing outside /tmp, so
# it works with a read-only root filesystem (docker run --read-only --tmpfs /tmp).
# Models are mounted at /models; configuration files at /etc/llmchain
# (set LLMCHAIN_CONFIG=/etc/llmchain/llmchain.yaml to use one).
# No -march=native anywhere: kernels pick their SIMD variant at run time, so the
# image runs on any x86-64 node.
ARG DEBIAN_IMAGE=debian:bookworm
ARG DEBIAN_SLIM_IMAGE=debian:bookworm-slim

FROM ${DEBIAN_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
# Toolchain and -dev packages first (the project's own setup script), so this
# layer is cached across source changes.
COPY scripts/setup.sh scripts/setup.sh
RUN bash scripts/setup.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# BUILD_JOBS: parallel compile jobs (default: all cores).
ARG BUILD_JOBS=
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLMCHAIN_TESTS=OFF -DLLMCHAIN_BENCH=OFF \
 && cmake --build /build -j "${BUILD_JOBS:-$(nproc)}" --target llmchain \
 && install -D -m 0755 /build/apps/llmchain /out/llmchain \
 && strip /out/llmchain \
 && bash deploy/docker/runtime-packages.sh /out/llmchain > /out/runtime-packages.txt \
 && cat /out/runtime-packages.txt

FROM ${DEBIAN_SLIM_IMAGE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
# The shared libraries llmchain links (found by ldd in the build stage), plus
# curl for the health check and CA certificates for https (llmchain pull, remote models).
RUN apt-get update \
 && xargs -a /tmp/runtime-packages.txt apt-get install -y --no-install-recommends curl ca-certificates \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && groupadd --system --gid 10001 llmchain \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin llmchain \
 && mkdir -p /models /etc/llmchain \
 && chown 10001:10001 /models
COPY --from=build /out/llmchain /usr/local/bin/llmchain
ENV HOME=/tmp \
    TMPDIR=/tmp
WORKDIR /tmp
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${LLMCHAIN_PORT:-8080}/health/live" >/dev/null || exit 1
LABEL org.opencontainers.image.title="llmchain" \
      org.opencontainers.image.description="LLM inference engine, chains and OpenAI-compatible server (engine and gateway roles)"
ENTRYPOINT ["llmchain"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "-m", "/models/model.gguf"]
