#!/usr/bin/env bash
# Makes the base images of the root Dockerfile (debian:bookworm and
# debian:bookworm-slim) available to the local Docker daemon. Where no registry
# can be reached, builds them from Debian's archive with debootstrap and
# `docker import`, the way Debian's official images are made (minbase variant;
# slim = minus docs, man pages and locales).
# Installs docker.io / debootstrap with apt-get when missing and starts dockerd
# when no daemon answers (log: ${TMPDIR:-/tmp}/dockerd.log). Needs root.
#   bash scripts/make_base_image.sh            # both images, skipping those present
#   FORCE=1 bash scripts/make_base_image.sh    # rebuild even if present
set -euo pipefail
SUITE=${SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
FORCE=${FORCE:-0}
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

apt_install() {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_docker() {
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "make_base_image: installing docker.io" >&2
    apt_install docker.io
  fi
  if docker info >/dev/null 2>&1; then return; fi
  echo "make_base_image: starting dockerd (log: ${TMPDIR:-/tmp}/dockerd.log)" >&2
  # vfs works on any filesystem (overlay-on-overlay does not); set
  # DOCKERD_STORAGE_DRIVER=overlay2 where the host supports it.
  $SUDO nohup dockerd --storage-driver="${DOCKERD_STORAGE_DRIVER:-vfs}" >"${TMPDIR:-/tmp}/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  echo "make_base_image: dockerd did not start; see ${TMPDIR:-/tmp}/dockerd.log" >&2
  tail -20 "${TMPDIR:-/tmp}/dockerd.log" >&2 || true
  exit 1
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

import_rootfs() {  # dir tag
  $SUDO tar --numeric-owner -C "$1" -c . |
    docker import --change 'CMD ["bash"]' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$2" >/dev/null
  echo "make_base_image: imported $2" >&2
}

ensure_docker
need=()
for tag in "debian:$SUITE" "debian:$SUITE-slim"; do
  if [ "$FORCE" != "1" ] && have_image "$tag"; then
    echo "make_base_image: $tag present" >&2
  elif [ "$FORCE" != "1" ] && timeout 60 docker pull "$tag" >/dev/null 2>&1; then
    echo "make_base_image: pulled $tag" >&2
  else
    need+=("$tag")
  fi
done
[ ${#need[@]} -eq 0 ] && exit 0

command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
work=$(mktemp -d "${TMPDIR:-/tmp}/llmchain-rootfs.XXXXXX")
trap '$SUDO rm -rf "$work"' EXIT
rootfs="$work/rootfs"
echo "make_base_image: debootstrap $SUITE from $MIRROR (a few minutes)" >&2
$SUDO debootstrap --variant=minbase "$SUITE" "$rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  exit 1
}
# As in the official images: the archive in sources.list, no caches or lists, no
# daemons started by package installs.
echo "deb $MIRROR $SUITE main" | $SUDO tee "$rootfs/etc/apt/sources.list" >/dev/null
printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$rootfs/usr/sbin/policy-rc.d" >/dev/null
$SUDO chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
$SUDO chroot "$rootfs" apt-get clean
$SUDO rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/log/*.log "$rootfs"/tmp/*
for tag in "${need[@]}"; do
  [ "$tag" = "debian:$SUITE" ] && import_rootfs "$rootfs" "$tag"
done
for tag in "${need[@]}"; do
  [ "$tag" = "debian:$SUITE-slim" ] || continue
  # Slim: keep future package installs from adding docs and locales, and drop those present.
  $SUDO tee "$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" >/dev/null <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
CFG
  $SUDO find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
  $SUDO rm -rf "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* "$rootfs"/usr/share/lintian/*
  $SUDO find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
  import_rootfs "$rootfs" "$tag"
done
