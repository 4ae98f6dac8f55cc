#!/usr/bin/env bash
# packaging.install: install the current build into a temporary prefix and
# use it the way a consumer does.
#   1. cmake --install BUILD_DIR --prefix TMP/prefix
#   2. the installed tree: the shared library with its SONAME and symlinks and
#      no RUNPATH into the build, libepochreg.a, every public header, the .pc
#      (prefix, libdir, includedir, version, Requires.private) and the CMake
#      package files;
#   3. examples/ built with its Makefile (pkg-config) and with its
#      CMakeLists.txt (find_package), shared and static, then run against a
#      temporary SQLite store with their output checked;
#   4. find_package(epochreg 9.0) is refused;
#   5. the literal `pkg-config --static --libs epochreg` link of
#      register_once with libepochreg.a.
#
# usage: check-install.sh SOURCE_DIR BUILD_DIR CC CMAKE LIBEPOCHREG_SO \
#                         LIBEPOCHREG_A WITH_SQLITE WITH_POSTGRES
set -euo pipefail
PKG_TEST_NAME=packaging.install
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

[ $# -eq 8 ] || die "usage: $0 SOURCE_DIR BUILD_DIR CC CMAKE LIB_SO LIB_A WITH_SQLITE WITH_POSTGRES"
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
cc=$3 cmake=$4 lib_so=$5 lib_a=$6
truthy() { case ${1^^} in 1 | ON | YES | TRUE | Y) return 0 ;; *) return 1 ;; esac }
with_sqlite=0 with_postgres=0
truthy "$7" && with_sqlite=1
truthy "$8" && with_postgres=1

need_tool "$cc" "the C compiler"
need_tool "$cmake" "cmake"
need_tool make "apt-get install make"
need_tool pkg-config "apt-get install pkgconf"
need_tool readelf "binutils"
[ -f "$lib_so" ] || die "$lib_so does not exist: build the epochreg target first"
[ -f "$lib_a" ] || die "$lib_a does not exist: build the epochreg_static target first"
[ "$with_sqlite" = 1 ] || die "the examples run against SQLite: configure with EPOCHREG_WITH_SQLITE=ON"
make_tmp
prefix=$PKG_TMP/prefix

version=$(sed -n 's/^#define EPOCHREG_VERSION "\(.*\)"$/\1/p' "$src/include/epochreg/version.h")
[ -n "$version" ] || die "cannot read EPOCHREG_VERSION from include/epochreg/version.h"

# ---- 1. install ----
if ! "$cmake" --install "$build" --prefix "$prefix" >"$PKG_TMP/install.log" 2>&1; then
    show "$PKG_TMP/install.log"
    die "cmake --install $build --prefix $prefix failed (is every installed target built?)"
fi
pass "cmake --install into a temporary prefix"

# ---- 2. the installed tree ----
mapfile -t pcs < <(find "$prefix" -name epochreg.pc -path '*/pkgconfig/*')
[ "${#pcs[@]}" -eq 1 ] || die "expected one installed epochreg.pc, found ${#pcs[@]}: ${pcs[*]:-}"
pcdir=$(dirname "${pcs[0]}")
libdir=$(dirname "$pcdir") # lib, or lib/<multiarch> with prefix /usr
rel_libdir=${libdir#"$prefix/"}
note "libdir is $rel_libdir"

real=$libdir/libepochreg.so.$version
if [ -f "$real" ] && [ ! -L "$real" ]; then
    pass "$rel_libdir/libepochreg.so.$version"
else
    fail "$rel_libdir/libepochreg.so.$version is missing or not a regular file"
fi
check_link() {
    local link=$1 target=$2
    if [ -L "$libdir/$link" ] && [ "$(readlink "$libdir/$link")" = "$target" ]; then
        pass "$link -> $target"
    else
        fail "$rel_libdir/$link should be a symlink to $target"
    fi
}
check_link libepochreg.so.0 "libepochreg.so.$version"
check_link libepochreg.so libepochreg.so.0
if [ -f "$libdir/libepochreg.a" ]; then
    pass "$rel_libdir/libepochreg.a"
else
    fail "$rel_libdir/libepochreg.a is missing"
fi
if [ -f "$real" ]; then
    readelf -dW "$real" >"$PKG_TMP/dyn"
    grep -q 'Library soname: \[libepochreg.so.0\]' "$PKG_TMP/dyn" ||
        fail "the installed library's SONAME is not libepochreg.so.0"
    if grep -E '\((RPATH|RUNPATH)\)' "$PKG_TMP/dyn" | grep -qF "$build"; then
        fail "the installed library keeps a RUNPATH into the build directory"
    fi
    # libpq is loaded only when a PostgreSQL store is opened (dlopen): linked,
    # its ~20 libraries would cost every process ~3.5 ms at start.
    if grep -q 'Shared library: \[libpq' "$PKG_TMP/dyn"; then
        fail "the installed library links libpq (it must load it at run time)"
    else
        pass "the installed library does not link libpq"
    fi
fi

# Headers: exactly the public ones, identical to the sources.
(cd "$src/include" && find epochreg -name '*.h' | LC_ALL=C sort) >"$PKG_TMP/h.src"
(cd "$prefix/include" 2>/dev/null && find epochreg -type f | LC_ALL=C sort) >"$PKG_TMP/h.inst" || true
if ! diff -u "$PKG_TMP/h.src" "$PKG_TMP/h.inst" >"$PKG_TMP/h.diff"; then
    fail "installed headers differ from include/ (- source, + installed):"
    show "$PKG_TMP/h.diff"
else
    while read -r h; do
        cmp -s "$src/include/$h" "$prefix/include/$h" || fail "installed $h differs from the source"
    done <"$PKG_TMP/h.src"
    grep -qx 'epochreg/sys/backend.h' "$PKG_TMP/h.src" || fail "epochreg/sys/backend.h is not installed"
    pass "$(wc -l <"$PKG_TMP/h.src") headers in include/epochreg, sys/backend.h included"
fi

for f in epochregConfig.cmake epochregConfigVersion.cmake epochregTargets.cmake; do
    [ -f "$libdir/cmake/epochreg/$f" ] || fail "$rel_libdir/cmake/epochreg/$f is missing"
done

# The .pc names the prefix it was installed under.
pcfile=${pcs[0]}
pcvar() { PKG_CONFIG_PATH=$pcdir pkg-config --variable="$1" epochreg; }
export PKG_CONFIG_PATH=$pcdir
if ! pkg-config --exists --print-errors epochreg >"$PKG_TMP/pc.err" 2>&1; then
    show "$PKG_TMP/pc.err"
    die "pkg-config cannot use the installed epochreg.pc (are libsqlite3-dev and libpq-dev installed?)"
fi
pc_ok=1
[ "$(pcvar prefix)" = "$prefix" ] || {
    fail "epochreg.pc says prefix=$(pcvar prefix), but it was installed under $prefix"
    pc_ok=0
}
[ "$(pcvar libdir)" = "$libdir" ] || {
    fail "epochreg.pc says libdir=$(pcvar libdir), expected $libdir"
    pc_ok=0
}
[ "$(pcvar includedir)" = "$prefix/include" ] || {
    fail "epochreg.pc says includedir=$(pcvar includedir), expected $prefix/include"
    pc_ok=0
}
[ "$(pkg-config --modversion epochreg)" = "$version" ] ||
    fail "epochreg.pc says version $(pkg-config --modversion epochreg), headers say $version"
requires=$(pkg-config --print-requires-private epochreg | awk '{print $1}' | LC_ALL=C sort | xargs)
expected=$( ([ "$with_sqlite" = 0 ] || echo sqlite3) | xargs)
if [ "$requires" = "$expected" ]; then
    pass "Requires.private: $requires"
else
    fail "Requires.private is '$requires', expected '$expected'"
fi
if pkg-config --print-requires epochreg | grep -q .; then
    fail "epochreg.pc has public Requires (consumers' code needs none): $(pkg-config --print-requires epochreg | tr '\n' ' ')"
fi
[ "$pc_ok" = 1 ] && pass "epochreg.pc: prefix, libdir and includedir point into the prefix"
if [ "$pc_ok" = 0 ]; then
    # Check the rest with a corrected copy, so one fault does not hide others.
    mkdir -p "$PKG_TMP/pc-fixed"
    sed "s|^prefix=.*|prefix=$prefix|" "$pcfile" >"$PKG_TMP/pc-fixed/epochreg.pc"
    export PKG_CONFIG_PATH=$PKG_TMP/pc-fixed
    note "continuing with a copy of epochreg.pc whose prefix is corrected"
    [ "$(pkg-config --variable=libdir epochreg)" = "$libdir" ] ||
        fail "even with the prefix corrected, libdir is $(pkg-config --variable=libdir epochreg)"
fi
cflags=$(pkg-config --cflags epochreg)
libs=$(pkg-config --libs epochreg)
case " $cflags " in *" -I$prefix/include "*) ;; *) fail "pkg-config --cflags epochreg lacks -I$prefix/include: $cflags" ;; esac
for want in "-L$libdir" -lepochreg; do
    case " $libs " in *" $want "*) ;; *) fail "pkg-config --libs epochreg lacks $want: $libs" ;; esac
done

# ---- 3. consumers ----
# The Makefile build works on a copy of the sources only (no binaries a user
# may have built in examples/), so nothing is written into the source tree.
werror="-O2 -Wall -Wextra -pedantic -Werror"
build_make() { # DIR [make args...]
    local dir=$1
    shift
    rm -rf "$dir"
    mkdir -p "$dir"
    cp "$src/examples/Makefile" "$src"/examples/*.c "$dir/"
    make -C "$dir" CC="$cc" CFLAGS="$werror" PKG_CONFIG_PATH="$PKG_CONFIG_PATH" "$@" \
        >"$dir.log" 2>&1
}
build_cmake() { # DIR [cmake args...]
    local dir=$1
    shift
    "$cmake" -S "$src/examples" -B "$dir" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$werror" "$@" >"$dir.log" 2>&1 &&
        "$cmake" --build "$dir" >>"$dir.log" 2>&1 &&
        grep -qxF "epochreg_DIR:PATH=$libdir/cmake/epochreg" "$dir/CMakeCache.txt"
}

# The runtime: the installed library only. LD_LIBRARY_PATH for the shared
# builds; ldd shows which libepochreg.so.0 a binary really loads.
run_env=(env "LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
linkage() { # BINARY shared|static
    local bin=$1 kind=$2 needs loaded
    needs=$(readelf -dW "$bin" | grep -c 'Shared library: \[libepochreg' || true)
    if [ "$kind" = static ]; then
        [ "$needs" = 0 ] || fail "$bin was linked statically but needs libepochreg.so"
        return
    fi
    [ "$needs" = 1 ] || fail "$bin does not need libepochreg.so.0"
    loaded=$("${run_env[@]}" ldd "$bin" | awk '/libepochreg/ { print $3 }')
    [ "$loaded" = "$libdir/libepochreg.so.0" ] ||
        fail "$bin loads libepochreg from '${loaded:-nowhere}', not $libdir"
}

# Runs the three examples from DIR against a new SQLite store and checks
# their output. LABEL names the build in messages.
exercise() {
    local dir=$1 label=$2 kind=$3 out=$PKG_TMP/out db before=$pkg_failures
    local -a envc=()
    [ "$kind" = shared ] && envc=("${run_env[@]}")
    for p in register_once list_json custom_backend; do
        [ -x "$dir/$p" ] || {
            fail "$label: $p was not built"
            return
        }
        linkage "$dir/$p" "$kind"
    done
    db=$PKG_TMP/run-$label
    rm -rf "$db" && mkdir -p "$db"
    local store=sqlite:$db/epochs.db ts='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z'
    # The second tag needs JSON escaping: a quote and a backslash.
    local i tag
    for i in 1 2; do
        tag=job-$i
        [ "$i" = 2 ] && tag='say "hi" \ bye'
        if ! "${envc[@]}" "$dir/register_once" "$store" "$tag" >"$out" 2>&1; then
            fail "$label: register_once failed"
            show "$out"
            return
        fi
        if ! grep -Eq "^id=$i time=$ts tag=" "$out" ||
            [ "$(sed 's/^[^ ]* [^ ]* tag=//' "$out")" != "$tag" ]; then
            fail "$label: register_once printed '$(cat "$out")', expected id=$i time=... tag=$tag"
        fi
    done
    # No argument: the store comes from EPOCHREG_DB.
    if ! (cd "$db" && EPOCHREG_DB=$store "${envc[@]}" "$dir/register_once") >"$out" 2>&1 ||
        ! grep -Eqx "id=3 time=$ts tag=" "$out"; then
        fail "$label: register_once with EPOCHREG_DB printed '$(cat "$out")', expected id=3"
    fi
    [ ! -e "$db/epochreg-example.db" ] || fail "$label: register_once ignored EPOCHREG_DB"
    # Failures: a store that cannot be opened gives 1 and a message; bad usage 2.
    local rc=0
    "${envc[@]}" "$dir/register_once" "sqlite:$db/missing/x.db" >"$out" 2>&1 || rc=$?
    if [ "$rc" != 1 ] || ! grep -q 'register_once: opening the store: .*does not exist' "$out"; then
        fail "$label: register_once on a missing directory: exit $rc, '$(cat "$out")'"
    fi
    rc=0
    "${envc[@]}" "$dir/register_once" a b c >"$out" 2>&1 || rc=$?
    [ "$rc" = 2 ] || fail "$label: register_once with 3 arguments exited $rc, expected 2"

    # Newest two of three: more, and a cursor that gives the last one.
    if ! "${envc[@]}" "$dir/list_json" "$store" 2 >"$out" 2>&1; then
        fail "$label: list_json failed"
        show "$out"
        return
    fi
    check_json "$label" "$out" "3 2" true 2
    grep -qF '"tag": "say \"hi\" \\ bye"' "$out" ||
        fail "$label: list_json did not escape the tag: $(cat "$out")"
    if ! "${envc[@]}" "$dir/list_json" "$store" 2 2 >"$out" 2>&1; then
        fail "$label: list_json with a cursor failed"
        show "$out"
        return
    fi
    check_json "$label" "$out" "1" false ""
    rc=0
    "${envc[@]}" "$dir/list_json" "$store" 0 >"$out" 2>&1 || rc=$?
    [ "$rc" = 2 ] || fail "$label: list_json with N=0 exited $rc, expected 2"

    if ! "${envc[@]}" "$dir/custom_backend" >"$out" 2>&1; then
        fail "$label: custom_backend failed"
        show "$out"
    elif ! grep -qx 'replayed id=1 (replayed)' "$out" || [ "$(tail -n 1 "$out")" != ok ]; then
        fail "$label: custom_backend did not print the replay and ok"
        show "$out"
    fi
    [ "$pkg_failures" -gt "$before" ] || pass "$label: register_once, list_json, custom_backend"
}

# list_json output: valid JSON (python3, when there is one), the ids in order,
# "more" and "next".
check_json() {
    local label=$1 file=$2 ids=$3 more=$4 next=$5 got
    if command -v python3 >/dev/null 2>&1; then
        python3 -m json.tool "$file" >/dev/null 2>"$PKG_TMP/json.err" || {
            fail "$label: list_json printed invalid JSON: $(cat "$PKG_TMP/json.err")"
            show "$file"
            return
        }
    fi
    grep -Eq '^\{"records": \[.*\], "more": (true|false)(, "next": [0-9]+)?\}$' "$file" ||
        fail "$label: list_json output does not have the expected shape: $(cat "$file")"
    got=$(grep -o '"id": [0-9]*' "$file" | awk '{print $2}' | tr '\n' ' ')
    [ "$got" = "$ids " ] || fail "$label: list_json listed ids '$got', expected '$ids'"
    grep -q "\"more\": $more" "$file" || fail "$label: list_json should say \"more\": $more"
    if [ -n "$next" ]; then
        grep -q "\"next\": $next}" "$file" || fail "$label: list_json should say \"next\": $next"
    elif grep -q '"next"' "$file"; then
        fail "$label: list_json printed a next cursor on the last page"
    fi
    return 0
}

before=$pkg_failures
if build_make "$PKG_TMP/make-shared"; then
    exercise "$PKG_TMP/make-shared" make-shared shared
else
    fail "examples/Makefile (pkg-config) failed to build against the prefix"
    show "$PKG_TMP/make-shared.log"
fi
if build_cmake "$PKG_TMP/cmake-shared"; then
    exercise "$PKG_TMP/cmake-shared" cmake-shared shared
else
    fail "examples/CMakeLists.txt (find_package) failed, or found epochreg outside the prefix"
    show "$PKG_TMP/cmake-shared.log"
fi
if build_make "$PKG_TMP/make-static" STATIC=1; then
    exercise "$PKG_TMP/make-static" make-static static
else
    fail "examples/Makefile STATIC=1 failed to link libepochreg.a"
    show "$PKG_TMP/make-static.log"
fi
if build_cmake "$PKG_TMP/cmake-static" -DEXAMPLES_STATIC=ON; then
    exercise "$PKG_TMP/cmake-static" cmake-static static
else
    fail "examples/CMakeLists.txt with EXAMPLES_STATIC=ON (epochreg::epochreg_static) failed"
    show "$PKG_TMP/cmake-static.log"
fi
[ "$pkg_failures" -gt "$before" ] || pass "examples built 4 ways against the prefix and ran"

# ---- 4. the version check of the CMake package ----
mkdir -p "$PKG_TMP/v9"
cat >"$PKG_TMP/v9/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(wants_epochreg_9 LANGUAGES C)
find_package(epochreg 9.0 REQUIRED)
EOF
if "$cmake" -S "$PKG_TMP/v9" -B "$PKG_TMP/v9/build" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_C_COMPILER="$cc" >"$PKG_TMP/v9.log" 2>&1; then
    fail "find_package(epochreg 9.0 REQUIRED) succeeded against version $version"
elif grep -q "version: $version" "$PKG_TMP/v9.log"; then
    pass "find_package(epochreg 9.0) is refused (installed: $version)"
else
    fail "find_package(epochreg 9.0) failed, but not for its version:"
    show "$PKG_TMP/v9.log"
fi

# ---- 5. `pkg-config --static --libs epochreg` as written ----
static_libs=$(pkg-config --static --libs epochreg)
for want in -lepochreg; do
    case " $static_libs " in *" $want "*) ;; *) fail "pkg-config --static --libs lacks $want: $static_libs" ;; esac
done
[ "$with_sqlite" = 0 ] || case " $static_libs " in *" -lsqlite3 "*) ;; *) fail "--static --libs lacks -lsqlite3" ;; esac
case " $static_libs " in *" -lpq "*) fail "--static --libs names -lpq (libpq is loaded at run time)" ;; esac
[ "$with_postgres" = 0 ] || case " $static_libs " in *" -ldl "*) ;; *) fail "--static --libs lacks -ldl (the PostgreSQL backend's dlopen)" ;; esac
read -r -a static_flags <<<"$static_libs"
link_flags=()
for f in "${static_flags[@]}"; do
    [ "$f" = -lepochreg ] && f=$libdir/libepochreg.a
    link_flags+=("$f")
done
read -r -a cflag_arr <<<"$cflags"
if "$cc" -std=c17 "${cflag_arr[@]}" -o "$PKG_TMP/register_once_static" \
    "$src/examples/register_once.c" "${link_flags[@]}" >"$PKG_TMP/static.log" 2>&1; then
    if "$PKG_TMP/register_once_static" "sqlite:$PKG_TMP/static.db" >"$PKG_TMP/out" 2>&1 &&
        grep -q '^id=1 ' "$PKG_TMP/out"; then
        pass "register_once linked with libepochreg.a and pkg-config --static --libs runs"
    else
        fail "register_once linked with pkg-config --static --libs does not run"
        show "$PKG_TMP/out"
    fi
else
    # Since libpq is loaded at run time, nothing in this chain asks for a
    # static library Debian does not ship: the link must succeed.
    fail "linking register_once with libepochreg.a and pkg-config --static --libs failed"
    show "$PKG_TMP/static.log"
fi

finish
