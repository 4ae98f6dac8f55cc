#!/usr/bin/env bash
# The run command: installs what is missing, builds, and runs epochregd in
# the foreground on http://127.0.0.1:8080 with the default SQLite store
# ($EPOCHREG_DB if set, else ~/.local/share/epochreg/epochreg.db).
#   bash scripts/run.sh [epochregd options...]     (Ctrl-C stops it)
# Try it from another terminal: curl -X POST http://127.0.0.1:8080/epochs
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${EPOCHREG_BUILD_DIR:-$top/build}/run

bash "$top/scripts/deps.sh"
cmake -S "$top" -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEPOCHREG_BUILD_TESTS=OFF \
    -DEPOCHREG_BUILD_BENCH=OFF >/dev/null
cmake --build "$out" -j"$(nproc)" >/dev/null

echo "epochregd: serving on http://127.0.0.1:8080 (Ctrl-C to stop); the CLI is $out/frontends/cli/epochreg" >&2
exec "$out/frontends/epochregd/epochregd" --log-format text "$@"
