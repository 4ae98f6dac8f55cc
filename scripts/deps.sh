#!/usr/bin/env bash
# Installs what epochreg needs to build, run and test, from Debian 12's own
# packages. Installs only what is missing; needs root (or sudo).
set -euo pipefail

packages=(
    build-essential cmake pkg-config    # compilers (gcc, g++), CMake, pkg-config
    libsqlite3-dev libpq-dev            # the backends
    libjansson-dev                      # JSON for the front ends
    check libsubunit-dev                # unit tests (Debian's Check needs subunit)
    postgresql-15 postgresql-client-15  # a private PostgreSQL for tests and benchmarks
    sqlite3 valgrind clang-format       # test tooling
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
    sudo="sudo"
fi
echo "epochreg: installing ${missing[*]}" >&2
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
