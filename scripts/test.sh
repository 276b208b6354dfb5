#!/usr/bin/env bash
# Builds and runs the whole test suite:
#   format check, fuzz targets (clang + libFuzzer: regressions and a short
#   run), the plain build, then the ASan + UBSan build.
# Each stage is a ctest run; the output ends with ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

jobs=$(nproc)
fuzz_seconds=${KRAAL_FUZZ_SECONDS:-20}

echo "==> format"
bash scripts/check-format.sh

echo "==> fuzz (clang, libFuzzer, ${fuzz_seconds}s per target)"
CC=clang cmake -S . -B build/fuzz -DKRAAL_FUZZ=ON -DKRAAL_BENCH=OFF \
  -DKRAAL_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build build/fuzz -j "$jobs" --target fuzzers
(cd build/fuzz && ctest -L fuzz --output-on-failure)

echo "==> plain build"
cmake -S . -B build/plain -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/plain -j "$jobs"
(cd build/plain && ctest -LE fuzz --output-on-failure)

echo "==> ASan + UBSan build"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DKRAAL_SANITIZE=ON >/dev/null
cmake --build build/asan -j "$jobs"
(cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest -LE fuzz --output-on-failure)
