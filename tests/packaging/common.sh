# Shared by the packaging tests (sourced, not run). Each test reports every
# failure it finds, not only the first, and exits 1 if there was any.
# shellcheck shell=bash

PKG_TEST_NAME=${PKG_TEST_NAME:-$(basename "$0" .sh)}
pkg_failures=0

fail() {
    printf '%s: FAIL: %s\n' "$PKG_TEST_NAME" "$*" >&2
    pkg_failures=$((pkg_failures + 1))
}

# A failure after which nothing else can be checked.
die() {
    printf '%s: FAIL: %s\n' "$PKG_TEST_NAME" "$*" >&2
    exit 1
}

pass() {
    printf '%s: ok: %s\n' "$PKG_TEST_NAME" "$*"
}

note() {
    printf '%s: note: %s\n' "$PKG_TEST_NAME" "$*"
}

# Prints a file indented, to show a failing command's output.
show() {
    sed 's/^/    | /' "$1" >&2
}

finish() {
    if [ "$pkg_failures" -gt 0 ]; then
        printf '%s: %d failure(s)\n' "$PKG_TEST_NAME" "$pkg_failures" >&2
        exit 1
    fi
    printf '%s: all checks passed\n' "$PKG_TEST_NAME"
    exit 0
}

# A private temporary directory, removed however the script ends.
# Set KEEP_TMP=1 to keep it for debugging.
make_tmp() {
    PKG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/epochreg-$PKG_TEST_NAME.XXXXXX")
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        trap 'note "kept $PKG_TMP"' EXIT
    else
        trap 'rm -rf "$PKG_TMP"' EXIT
    fi
}

need_tool() {
    command -v "$1" >/dev/null 2>&1 || die "$1 is not installed ($2)"
}
