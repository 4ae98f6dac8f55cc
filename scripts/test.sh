#!/usr/bin/env bash
# The test command: installs what is missing, then builds and runs every test
# twice — a normal build with -Werror (including the valgrind runs and the
# packaging tests) and an AddressSanitizer + UndefinedBehaviorSanitizer build.
# Every test that needs PostgreSQL starts its own server on loopback and
# stops it by its pidfile. Exit status 0 only if everything passed.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${EPOCHREG_BUILD_DIR:-$top/build}
jobs=$(nproc)

bash "$top/scripts/deps.sh"

echo "== normal build (-Werror), all tests, valgrind runs"
cmake -S "$top" -B "$out/release" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DEPOCHREG_WERROR=ON -DEPOCHREG_VALGRIND=ON
cmake --build "$out/release" -j"$jobs"
ctest --test-dir "$out/release" --output-on-failure --no-tests=error -j"$jobs"

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build, all tests"
cmake -S "$top" -B "$out/asan" -DCMAKE_BUILD_TYPE=Debug -DEPOCHREG_WERROR=ON \
    -DEPOCHREG_SANITIZE=ON -DEPOCHREG_BUILD_BENCH=OFF
cmake --build "$out/asan" -j"$jobs"
# The packaging tests build consumers against the installed library, which
# in this build needs the sanitizer runtime: they run in the normal build.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$out/asan" --output-on-failure --no-tests=error -j"$jobs" -E "^packaging[.]"

echo "== all tests passed"
