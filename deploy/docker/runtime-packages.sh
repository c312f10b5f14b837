#!/usr/bin/env bash
# Prints the Debian packages that provide the shared libraries a binary links
# (one per line), so the runtime image installs exactly those. Run in the build
# stage, where the -dev packages (and so the libraries) are installed.
# bookworm is usr-merged: ldd says /lib/..., dpkg may list /usr/lib/... or the
# reverse, so every spelling of the path is tried.
set -euo pipefail
bin=$1
ldd "$bin" | awk '/=> \//{print $3}' | while read -r lib; do
  real=$(readlink -f "$lib")
  pkg=""
  for p in "$lib" "$real" "${lib#/usr}" "${real#/usr}" "/usr$lib" "/usr$real"; do
    pkg=$(dpkg -S "$p" 2>/dev/null | head -n1 | cut -d: -f1) && [ -n "$pkg" ] && break
  done
  if [ -z "$pkg" ]; then
    echo "runtime-packages: no package owns $lib" >&2
    exit 1
  fi
  echo "$pkg"
done | sort -u
