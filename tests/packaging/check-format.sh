#!/usr/bin/env bash
# packaging.format: every C source and header in lib/, include/, frontends/,
# tests/ and examples/ is formatted as .clang-format says. Build directories
# (build*, _*) are left out. Lists every file that differs, then fails.
#
# usage: check-format.sh SOURCE_DIR [CLANG_FORMAT]
# To fix a file: clang-format -i FILE
set -euo pipefail
PKG_TEST_NAME=packaging.format
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

if [ $# -lt 1 ] || [ $# -gt 2 ]; then die "usage: $0 SOURCE_DIR [CLANG_FORMAT]"; fi
src=$1 clang_format=${2:-clang-format}
need_tool "$clang_format" "apt-get install clang-format"
[ -f "$src/.clang-format" ] || die "$src/.clang-format does not exist"
make_tmp

dirs=()
for d in lib include frontends tests examples; do
    [ -d "$src/$d" ] && dirs+=("$src/$d")
done
[ "${#dirs[@]}" -gt 0 ] || die "none of lib/ include/ frontends/ tests/ examples/ exists in $src"

mapfile -t files < <(find "${dirs[@]}" \( -type d \( -name 'build*' -o -name '_*' \) -prune \) \
    -o -type f \( -name '*.c' -o -name '*.h' \) -print | LC_ALL=C sort)
[ "${#files[@]}" -gt 0 ] || die "no *.c or *.h files found"

bad=()
for f in "${files[@]}"; do
    # --style=file finds the .clang-format above the file; --Werror makes
    # any needed change an error, and the output shows the first ones.
    if ! "$clang_format" --style=file --dry-run --Werror "$f" >"$PKG_TMP/out" 2>&1; then
        bad+=("${f#"$src/"}")
        head -n 12 "$PKG_TMP/out" | sed 's/^/    | /' >&2
    fi
done

if [ "${#bad[@]}" -gt 0 ]; then
    fail "${#bad[@]} of ${#files[@]} files are not formatted (clang-format -i FILE):"
    printf '    %s\n' "${bad[@]}" >&2
else
    pass "${#files[@]} files formatted ($("$clang_format" --version | head -n 1))"
fi
finish
