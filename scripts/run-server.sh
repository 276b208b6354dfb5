#!/usr/bin/env bash
# Installs the dependencies, builds kraal and starts `kraal server` with
# etc/kraal.yaml in the foreground (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DKRAAL_TESTS=OFF -DKRAAL_BENCH=OFF >/dev/null
cmake --build build/release -j "$(nproc)"
# No registry may be reachable: the busybox image (built from Debian's
# busybox-static) is imported once, so a first pod runs offline.
if ! grep -q busybox <<<"$(build/release/bin/kraal image ls --config etc/kraal.yaml 2>/dev/null)"; then
  img=$(mktemp -d /tmp/kraal-busybox.XXXXXX)
  bash tests/images/make-busybox.sh "$img/busybox"
  build/release/bin/kraal image import "$img/busybox" --name docker.io/library/busybox:latest --config etc/kraal.yaml
  rm -rf "$img"
fi
exec build/release/bin/kraal server --config etc/kraal.yaml "$@"
