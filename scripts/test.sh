#!/usr/bin/env bash
# Builds and runs the whole test suite:
#   format check, fuzz targets (clang + libFuzzer: regressions and a short
#   run), the plain build, then the ASan + UBSan build.
# Each stage is a ctest run; the output ends with ctest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

jobs=$(nproc)
fuzz_seconds=${KRAAL_FUZZ_SECONDS:-10}
# Tests mostly wait (servers, kubectl, containers), so ctest runs several at
# once; the ones that run real containers on this host hold one of two
# locks (RESOURCE_LOCK host-containers-a/-b): at most two at a time.
test_jobs=${KRAAL_TEST_JOBS:-$((jobs * 2 > 4 ? jobs * 2 : 4))}

echo "==> format"
bash scripts/check-format.sh

echo "==> fuzz (clang, libFuzzer, ${fuzz_seconds}s per target)"
CC=clang cmake -S . -B build/fuzz -DKRAAL_FUZZ=ON -DKRAAL_BENCH=OFF \
  -DKRAAL_FUZZ_SECONDS="$fuzz_seconds" >/dev/null
cmake --build build/fuzz -j "$jobs" --target fuzzers
(cd build/fuzz && ctest -L fuzz -j "$jobs" --output-on-failure)

echo "==> plain build"
cmake -S . -B build/plain -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/plain -j "$jobs"
(cd build/plain && ctest -LE fuzz -j "$test_jobs" --output-on-failure)

echo "==> ASan + UBSan build"
cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DKRAAL_SANITIZE=ON >/dev/null
cmake --build build/asan -j "$jobs"
# every kubectl version ran in the plain stage; one is enough here
(cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 KRAAL_COMPAT_KUBECTLS=/usr/bin/kubectl \
  ctest -LE fuzz -j "$test_jobs" --output-on-failure)
