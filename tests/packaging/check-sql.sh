#!/usr/bin/env bash
# packaging.sql: the library sends only parameterised SQL. Values travel as
# bound parameters; SQL text is made of constants. In every *.c and *.h under
# lib/ (read as C tokens by sql-scan.pl, so comments do not count and
# adjacent literals are one string):
#   - PQexec( and PQsendQuery( are refused (PQexecParams/Prepared instead);
#   - sqlite3_mprintf and SQLite's other formatting functions are refused;
#   - sqlite3_exec( is allowed only with SQL on the allow-list below: a named
#     const array of string literals (checked) or an exact literal;
#   - snprintf/sprintf/vsnprintf/asprintf with a format that contains SQL
#     (SELECT INSERT UPDATE DELETE CREATE DROP ALTER WHERE, any case) are
#     refused; with a non-literal format, or anywhere in lib/backends/ (where
#     the result could end up in SQL), they must be on the allow-list;
#   - any string with SQL in it and a printf conversion (%s, %d, %lld, "%"
#     PRId64 ...) is refused, unless it is the message of epoch_error_set().
# Allow-list entries that match nothing fail too: the list names exactly
# what was reviewed.
#
# usage: check-sql.sh SOURCE_DIR
set -euo pipefail
PKG_TEST_NAME=packaging.sql
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

[ $# -eq 1 ] || die "usage: $0 SOURCE_DIR"
src=$1
scanner=$(dirname "$0")/sql-scan.pl
need_tool perl "perl-base"
[ -d "$src/lib" ] || die "$src/lib does not exist"
make_tmp

# FILE FUNCTION KEY. KEY is the SQL or format argument: an identifier, or an
# exact string literal in double quotes. Each entry was reviewed; say why.
cat >"$PKG_TMP/allow" <<'EOF'
# The SQLite schema migrations: a static const array of constant DDL strings
# (the scanner checks that it holds nothing but string literals and macros).
lib/backends/sqlite.c    sqlite3_exec  migrations
# Connection settings: constant PRAGMAs, no values.
lib/backends/sqlite.c    sqlite3_exec  "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
# The SQLite result code as the decimal text of epoch_error.detail.
lib/backends/sqlite.c    snprintf      "%d"
# The name of a prepared statement (the list variant number), not SQL: the
# SQL itself comes from epoch__list_sql(), built from constant fragments.
lib/backends/postgres.c  snprintf      "epochreg_list_%u"
# epoch_error_set() formats the caller's message into epoch_error.message.
lib/error.c              vsnprintf     fmt
EOF

mapfile -t files < <(cd "$src" && find lib \( -name '*.c' -o -name '*.h' \) -type f | LC_ALL=C sort)
[ "${#files[@]}" -gt 0 ] || die "no *.c or *.h files under $src/lib"

if perl "$scanner" "$src" "$PKG_TMP/allow" "${files[@]}" >"$PKG_TMP/out" 2>&1; then
    sed 's/^/    /' "$PKG_TMP/out"
    pass "${#files[@]} files in lib/: only parameterised SQL"
else
    rc=$?
    sed 's/^/    /' "$PKG_TMP/out" >&2
    [ "$rc" -eq 1 ] || die "sql-scan.pl failed to run (exit $rc)"
    fail "SQL built from values, or an unreviewed exception (see VIOLATION lines)"
fi
finish
