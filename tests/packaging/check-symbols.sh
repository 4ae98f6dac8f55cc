#!/usr/bin/env bash
# packaging.symbols: the exported ABI is exactly the intended one. Three lists
# must be equal:
#   (a) the functions declared with EPOCHREG_API in include/,
#   (b) the global: names of the version script lib/epochreg.map,
#   (c) what the built libepochreg.so exports (nm -D --defined-only).
# With GCC, (a) is also compared with every function the public headers
# declare (-aux-info), so a declaration that forgot EPOCHREG_API is caught.
# And: the SONAME is libepochreg.so.0, every export carries the version node
# EPOCHREG_0, and the library needs no front-end library (jansson, libevent).
#
# usage: check-symbols.sh SOURCE_DIR LIBEPOCHREG_SO CC [NM [READELF]]
set -euo pipefail
PKG_TEST_NAME=packaging.symbols
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "$0")/common.sh"

if [ $# -lt 3 ] || [ $# -gt 5 ]; then die "usage: $0 SOURCE_DIR LIBEPOCHREG_SO CC [NM [READELF]]"; fi
src=$1 lib=$2 cc=$3 nm=${4:-nm} readelf=${5:-readelf}
map=$src/lib/epochreg.map
soname=libepochreg.so.0
node=EPOCHREG_0

need_tool "$nm" "binutils"
need_tool "$readelf" "binutils"
need_tool perl "perl-base"
[ -f "$lib" ] || die "$lib does not exist: build the epochreg target first"
[ -f "$map" ] || die "$map does not exist"
make_tmp

# ---- (a) EPOCHREG_API declarations ----
# Comments and string literals are removed first, then each EPOCHREG_API
# (outside #define lines) is followed to the first "(": the identifier right
# before it is the name, however the declaration is split over lines.
mapfile -t headers < <(find "$src/include" -name '*.h' | LC_ALL=C sort)
[ "${#headers[@]}" -gt 0 ] || die "no headers under $src/include"
if ! perl -e '
    use strict;
    use warnings;
    my %kw = map { $_ => 1 } qw(int char void long short unsigned signed const
        volatile struct enum union double float size_t int64_t uint64_t
        EPOCHREG_API);
    my $bad = 0;
    for my $file (@ARGV) {
        open(my $fh, "<", $file) or die "$file: $!\n";
        local $/;
        my $text = <$fh>;
        close $fh;
        $text =~ s{/\*.*?\*/}{ }gs;                   # block comments
        $text =~ s{//[^\n]*}{}g;                      # line comments
        $text =~ s{"(?:\\.|[^"\\\n])*"}{""}g;         # string literals
        $text =~ s{^[ \t]*#(?:[^\n]*\\\n)*[^\n]*}{}mg; # preprocessor lines
        while ($text =~ /\bEPOCHREG_API\b([^;{]*)/g) {
            my $decl = $1;
            (my $shown = $decl) =~ s/\s+/ /g;
            if ($decl =~ /^([^(]*?)\b([A-Za-z_]\w*)\s*\(/ && !$kw{$2}) {
                print "$2\n";
            } else {
                print STDERR "cannot find a function name in: EPOCHREG_API$shown ($file)\n";
                $bad = 1;
            }
        }
    }
    exit $bad;
' "${headers[@]}" >"$PKG_TMP/a.raw" 2>"$PKG_TMP/a.err"; then
    show "$PKG_TMP/a.err"
    die "cannot parse the EPOCHREG_API declarations"
fi

# ---- (b) the version script ----
# Every name between "global:" and "local:" (or the node's end), comments
# removed; and the node must be EPOCHREG_0.
perl -e '
    use strict;
    use warnings;
    local $/;
    my $text = <STDIN>;
    $text =~ s{/\*.*?\*/}{ }gs;
    $text =~ s{#[^\n]*}{}g;
    while ($text =~ /\b([A-Za-z_]\w*)\s*\{(.*?)\}\s*([A-Za-z_]\w*)?\s*;/gs) {
        my ($nodename, $body) = ($1, $2);
        print STDERR "node:$nodename\n";
        next unless $body =~ /\bglobal\s*:(.*?)(?:\blocal\s*:|$)/s;
        for my $entry (split /;/, $1) {
            $entry =~ s/^\s+|\s+$//g;
            print "$entry\n" if length $entry;
        }
    }
' <"$map" >"$PKG_TMP/b.raw" 2>"$PKG_TMP/b.nodes"
mapfile -t nodes < <(sed -n 's/^node://p' "$PKG_TMP/b.nodes")
if [ "${#nodes[@]}" -ne 1 ] || [ "${nodes[0]}" != "$node" ]; then
    fail "lib/epochreg.map should have the one version node $node, has: ${nodes[*]:-none}"
fi
if grep -q '[*?[]' "$PKG_TMP/b.raw"; then
    fail "lib/epochreg.map exports by wildcard: $(grep '[*?[]' "$PKG_TMP/b.raw" | tr '\n' ' ')"
fi

# ---- (c) the built library ----
"$nm" -D --defined-only "$lib" >"$PKG_TMP/nm.out"
# "ADDR TYPE NAME@@NODE": everything but the node's own absolute symbol.
awk '$NF != "'"$node"'" { print $NF }' "$PKG_TMP/nm.out" >"$PKG_TMP/c.versioned"
unversioned=$(grep -v "@@$node\$" "$PKG_TMP/c.versioned" || true)
if [ -n "$unversioned" ]; then
    fail "exported without the version node $node: $(echo "$unversioned" | tr '\n' ' ')"
fi
sed 's/@.*//' "$PKG_TMP/c.versioned" >"$PKG_TMP/c.raw"
if ! grep -q " A $node\$" "$PKG_TMP/nm.out"; then
    fail "$lib defines no version node $node"
fi

for l in a b c; do
    LC_ALL=C sort "$PKG_TMP/$l.raw" >"$PKG_TMP/$l"
    dups=$(uniq -d "$PKG_TMP/$l")
    [ -z "$dups" ] || fail "listed twice in ($l): $(echo "$dups" | tr '\n' ' ')"
    LC_ALL=C sort -u -o "$PKG_TMP/$l" "$PKG_TMP/$l"
done
[ -s "$PKG_TMP/a" ] || fail "no EPOCHREG_API declarations found in include/"

# Prints the names in list $1 that are missing from list $2.
only_in() {
    LC_ALL=C comm -23 "$PKG_TMP/$1" "$PKG_TMP/$2" | tr '\n' ' '
}
what_a="declared with EPOCHREG_API in include/"
what_b="listed in lib/epochreg.map"
what_c="exported by $(basename "$lib")"
compare() {
    local x=$1 y=$2 wx=$3 wy=$4 diff
    diff=$(only_in "$x" "$y")
    [ -z "$diff" ] || fail "$wx but not $wy: $diff"
}
compare a b "$what_a" "$what_b"
compare b a "$what_b" "$what_a"
compare a c "$what_a" "$what_c"
compare c a "$what_c" "$what_a"
compare b c "$what_b" "$what_c"
compare c b "$what_c" "$what_b"
if cmp -s "$PKG_TMP/a" "$PKG_TMP/b" && cmp -s "$PKG_TMP/b" "$PKG_TMP/c"; then
    pass "$(wc -l <"$PKG_TMP/a") functions: headers, map and library agree"
fi

# Every exported symbol is a function (an exported variable would be ABI
# that no header declares as such).
nonfunc=$(awk '$NF != "'"$node"'" && $2 != "T" { print $NF }' "$PKG_TMP/nm.out")
[ -z "$nonfunc" ] || fail "exported symbols that are not functions: $(echo "$nonfunc" | tr '\n' ' ')"

# ---- (d) every function the headers declare carries EPOCHREG_API ----
# GCC's -aux-info lists every function declaration it sees, with its file.
{
    for h in "${headers[@]}"; do
        printf '#include <%s>\n' "${h#"$src/include/"}"
    done
} >"$PKG_TMP/all.c"
incdir=$(cd "$src/include" && pwd)
if "$cc" -std=c17 -I "$incdir" -fsyntax-only -aux-info "$PKG_TMP/aux.txt" \
    "$PKG_TMP/all.c" >"$PKG_TMP/aux.err" 2>&1; then
    grep -F "/* $incdir/" "$PKG_TMP/aux.txt" |
        sed -E 's/^.*\*\/ *//; s/ *\(.*$//; s/^.*[^A-Za-z0-9_]//' |
        LC_ALL=C sort -u >"$PKG_TMP/d"
    [ -s "$PKG_TMP/d" ] || fail "-aux-info listed no function of include/"
    diff=$(only_in d a)
    [ -z "$diff" ] || fail "declared in include/ without EPOCHREG_API: $diff"
    diff=$(only_in a d)
    [ -z "$diff" ] || fail "EPOCHREG_API names the compiler does not see as functions: $diff"
    [ -n "$(only_in d a)$(only_in a d)" ] ||
        pass "every function declared in include/ is marked EPOCHREG_API"
else
    note "$cc does not support -aux-info (GCC only): skipped the check that every"
    note "declared function is marked EPOCHREG_API; (a)-(c) above still ran"
fi

# ---- SONAME, version node, dependencies ----
"$readelf" -dW "$lib" >"$PKG_TMP/dyn"
got=$(sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p' "$PKG_TMP/dyn")
if [ "$got" = "$soname" ]; then
    pass "SONAME is $soname"
else
    fail "SONAME is '${got:-none}', expected $soname"
fi
# The version definition section names the node exported symbols use.
"$readelf" -VW "$lib" >"$PKG_TMP/ver"
grep -q "Name: $node\$\|Name: $node " "$PKG_TMP/ver" ||
    fail "readelf -V shows no version definition $node"

mapfile -t needed < <(sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\].*/\1/p' "$PKG_TMP/dyn")
forbidden=()
for n in "${needed[@]}"; do
    case $n in
    libjansson* | libevent* | libcheck* | libsubunit*) forbidden+=("$n") ;;
    esac
done
if [ "${#forbidden[@]}" -gt 0 ]; then
    fail "libepochreg needs front-end or test libraries: ${forbidden[*]} (NEEDED: ${needed[*]})"
else
    pass "NEEDED: ${needed[*]} (no jansson, libevent or test libraries)"
fi

finish
