#!/usr/bin/env bash
# Installs what epochreg needs to build, run and test, from Debian 12's own
# packages. Installs only what is missing; needs root (or sudo).
set -euo pipefail

packages=(
    build-essential cmake pkg-config    # compilers (gcc, g++), CMake, pkg-config
    libsqlite3-dev libpq-dev            # the backends
    zlib1g-dev                          # -lz: sqlite3.pc's Libs.private, for static links of libepochreg.a
    libjansson-dev                      # JSON for the front ends
    libevent-dev libssl-dev             # epochregd: evhttp, HTTPS
    curl openssl python3                # daemon tests: a real client, certificates, raw sockets
    check libsubunit-dev                # unit tests (Debian's Check needs subunit)
    postgresql-15 postgresql-client-15  # a private PostgreSQL for tests and benchmarks
    apache2                             # a private Apache 2.4 for the CGI tests
    pgbouncer                           # the CGI tests: epochreg.cgi through pgbouncer (session pooling)
    sqlite3 valgrind clang-format       # test tooling
)

# evhttp in Debian 12 before 2.1.12-stable-8+deb12u1 lacks the 2026
# request-smuggling fixes (CVE-2026-63379 and others): a fresh image ships
# 2.1.12-stable-8, so always bring libevent up to Debian's security update.
libevent_min=2.1.12-stable-8+deb12u1
libevent_pkgs=(libevent-2.1-7 libevent-core-2.1-7 libevent-extra-2.1-7
               libevent-openssl-2.1-7 libevent-pthreads-2.1-7 libevent-dev)
libevent_ok() {
    local v
    v=$(dpkg-query -W -f='${Version}' libevent-2.1-7 2>/dev/null) || return 1
    dpkg --compare-versions "$v" ge "$libevent_min"
}

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if ! libevent_ok; then
    missing+=("${libevent_pkgs[@]}")
fi
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
if ! libevent_ok; then
    echo "epochreg: libevent-2.1-7 is older than $libevent_min after the install;" \
         "check the bookworm-security source in /etc/apt/sources.list" >&2
    exit 1
fi
