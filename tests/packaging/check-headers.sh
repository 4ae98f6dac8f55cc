#!/usr/bin/env bash
# packaging.headers: every public header compiles on its own, from C17 and
# from C++17, pedantic and with warnings as errors, and survives being
# included twice; a C++ program that includes the umbrella header and
# <epochreg/sys/backend.h> links against the built libepochreg.so and runs.
#
# usage: check-headers.sh SOURCE_DIR CC CXX LIBEPOCHREG_SO
set -euo pipefail
PKG_TEST_NAME=packaging.headers
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

[ $# -eq 4 ] || die "usage: $0 SOURCE_DIR CC CXX LIBEPOCHREG_SO"
src=$1 cc=$2 cxx=$3 lib=$4
include=$src/include

need_tool "$cc" "the C compiler"
need_tool "$cxx" "a C++ compiler is required: apt-get install g++"
[ -d "$include/epochreg" ] || die "no headers in $include/epochreg"
[ -f "$lib" ] || die "$lib does not exist: build the epochreg target first"
make_tmp

cflags=(-std=c17 -pedantic -Wall -Wextra -Werror -Wstrict-prototypes -Wundef -fsyntax-only)
cxxflags=(-std=c++17 -pedantic -Wall -Wextra -Werror -Wundef -fsyntax-only)

mapfile -t headers < <(cd "$include" && find epochreg -name '*.h' | LC_ALL=C sort)
[ "${#headers[@]}" -gt 0 ] || die "no headers found under $include/epochreg"

# Only the installed layout is used: -I include, headers named as users name
# them. A header that leans on another one being included first fails here.
for h in "${headers[@]}"; do
    printf '#include <%s>\n' "$h" >"$PKG_TMP/alone.c"
    printf '#include <%s>\n#include <%s>\n' "$h" "$h" >"$PKG_TMP/twice.c"
    cp "$PKG_TMP/alone.c" "$PKG_TMP/alone.cpp"
    cp "$PKG_TMP/twice.c" "$PKG_TMP/twice.cpp"
    for tu in alone twice; do
        if ! "$cc" "${cflags[@]}" -I "$include" "$PKG_TMP/$tu.c" >"$PKG_TMP/out" 2>&1; then
            fail "$h ($tu) does not compile as C17"
            show "$PKG_TMP/out"
        fi
        if ! "$cxx" "${cxxflags[@]}" -I "$include" "$PKG_TMP/$tu.cpp" >"$PKG_TMP/out" 2>&1; then
            fail "$h ($tu) does not compile as C++17"
            show "$PKG_TMP/out"
        fi
    done
done
pass "${#headers[@]} headers compile alone and twice as C17 and C++17"

# The initialiser macros, as users write them, under the warnings users turn
# on: -Wextra includes -Wmissing-field-initializers, which rejects a
# brace initialiser that names only some members (other than {0}).
cat >"$PKG_TMP/macros.c" <<'EOF'
#include <epochreg/epochreg.h>
#include <epochreg/sys/backend.h>

unsigned int use_macros(void);
unsigned int use_macros(void)
{
    epoch_query q = EPOCH_QUERY_INIT;
    epoch_store_options o = EPOCH_STORE_OPTIONS_INIT;
    epoch_backend b = EPOCH_BACKEND_INIT;
#ifdef __cplusplus
    epoch_entry e = {}; /* C++ zero-initialises with {}; {0} warns there */
#else
    epoch_entry e = {0}; /* as record.h shows */
#endif
    return q.version + o.version + b.version + (unsigned int)e.protocol +
           (EPOCHREG_VERSION_AT_LEAST(0, 0, 0) ? 1u : 0u) + (EPOCH_TIME_MAX > 0 ? 1u : 0u);
}
EOF
cp "$PKG_TMP/macros.c" "$PKG_TMP/macros.cpp"
if ! "$cc" "${cflags[@]}" -I "$include" "$PKG_TMP/macros.c" >"$PKG_TMP/out" 2>&1; then
    fail "the initialiser macros do not compile as C17 with -Wall -Wextra -Werror"
    show "$PKG_TMP/out"
elif ! "$cxx" "${cxxflags[@]}" -I "$include" "$PKG_TMP/macros.cpp" >"$PKG_TMP/out" 2>&1; then
    fail "the initialiser macros do not compile as C++17 with -Wall -Wextra -Werror"
    show "$PKG_TMP/out"
else
    pass "EPOCH_QUERY_INIT, EPOCH_STORE_OPTIONS_INIT, EPOCH_BACKEND_INIT compile cleanly"
fi

# From C++: the initialiser macros work, the declarations have C linkage (a
# missing extern "C" shows up as undefined mangled names at link time), and
# the library's version matches the headers'.
cat >"$PKG_TMP/use.cpp" <<'EOF'
#include <epochreg/epochreg.h>
#include <epochreg/sys/backend.h>

#include <cstdio>
#include <cstring>

static int failed(const char *what)
{
    std::fprintf(stderr, "C++ consumer: %s\n", what);
    return 1;
}

int main()
{
    int major = -1, minor = -1, patch = -1;
    const char *v = epochreg_version(&major, &minor, &patch);
    if (std::strcmp(v, EPOCHREG_VERSION) != 0 || major != EPOCHREG_VERSION_MAJOR ||
        minor != EPOCHREG_VERSION_MINOR || patch != EPOCHREG_VERSION_PATCH)
        return failed("library version differs from the headers");
    static_assert(EPOCHREG_VERSION_AT_LEAST(0, 0, 1), "version macro");

    epoch_query q = EPOCH_QUERY_INIT;
    epoch_query q2;
    if (epoch_query_init(&q2, EPOCH_QUERY_VERSION) != 0 || q2.limit != q.limit ||
        q.after != EPOCH_UNSET)
        return failed("EPOCH_QUERY_INIT / epoch_query_init");
    epoch_store_options opts = EPOCH_STORE_OPTIONS_INIT;
    if (epoch_store_options_init(&opts, EPOCH_STORE_OPTIONS_VERSION) != 0)
        return failed("epoch_store_options_init");
    epoch_backend b; /* EPOCH_BACKEND_INIT is checked above */
    if (epoch_backend_init(&b, EPOCH_BACKEND_VERSION) != 0 || b.version != EPOCH_BACKEND_VERSION)
        return failed("epoch_backend_init");

    char when[EPOCH_TIME_BUFSIZE];
    if (epoch_time_format(when, sizeof(when), 0) != 0 ||
        std::strcmp(when, "1970-01-01T00:00:00.000000Z") != 0)
        return failed("epoch_time_format");

    epoch_error err;
    epoch_store *store = nullptr;
    int rc = epoch_store_open(&store, "nosuchscheme:x", nullptr, &err);
    if (rc != EPOCH_EINVAL || err.code != EPOCH_EINVAL || store != nullptr ||
        std::strcmp(epoch_strerror(rc), "invalid argument") != 0)
        return failed("epoch_store_open of an unknown scheme");
    std::printf("C++ consumer ok: epochreg %s\n", v);
    return 0;
}
EOF
libdir=$(cd "$(dirname "$lib")" && pwd)
if ! "$cxx" -std=c++17 -pedantic -Wall -Wextra -Werror -I "$include" -o "$PKG_TMP/use" \
    "$PKG_TMP/use.cpp" "$lib" >"$PKG_TMP/out" 2>&1; then
    fail "a C++ program using the headers does not build and link against $lib"
    show "$PKG_TMP/out"
elif ! LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$PKG_TMP/use" \
    >"$PKG_TMP/out" 2>&1; then
    fail "the C++ program linked against $lib failed"
    show "$PKG_TMP/out"
else
    pass "$(cat "$PKG_TMP/out")"
fi

finish
