#!/usr/bin/env bash
# The run command: installs what is missing, builds, and registers the
# current time in the default SQLite store, then lists the latest records.
#   bash scripts/run.sh [TAG]
# The store is $EPOCHREG_DB if set, else ~/.local/share/epochreg/epochreg.db.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${EPOCHREG_BUILD_DIR:-$top/build}/run

bash "$top/scripts/deps.sh"
cmake -S "$top" -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEPOCHREG_BUILD_TESTS=OFF \
    -DEPOCHREG_BUILD_BENCH=OFF >/dev/null
cmake --build "$out" -j"$(nproc)" >/dev/null

cli=$out/frontends/cli/epochreg
"$cli" register --tag "${1:-hello}"
"$cli" list --limit 10
