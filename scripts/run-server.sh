#!/usr/bin/env bash
# Installs the dependencies, builds kraal and starts `kraal server` with
# etc/kraal.yaml in the foreground (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DKRAAL_TESTS=OFF -DKRAAL_BENCH=OFF >/dev/null
cmake --build build/release -j "$(nproc)"
exec build/release/bin/kraal server --config etc/kraal.yaml "$@"
