#!/usr/bin/env bash
# cgi.linked: what epochreg.cgi loads at every start (one process per
# request, so each library is paid for every time; README, "CGI benchmark").
#   - never libpq or libcrypto (loaded only for a PostgreSQL store /
#     not used at all): ~3.5 ms and ~0.5 ms per start when they were linked;
#   - with EPOCHREG_CGI_STATIC=ON, nothing but libc and libm (and, in the
#     sanitizer build, its runtimes): libepochreg, SQLite and jansson are
#     linked in.
# usage: linked.sh CGI_BINARY STATIC(1|0)
set -euo pipefail
cgi=$1 static=$2
fail=0
needed=$(readelf -dW "$cgi" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | xargs)
echo "cgi.linked: NEEDED: $needed"
for lib in $needed; do
    case $lib in
    libpq.so* | libcrypto.so* | libssl.so*)
        echo "cgi.linked: FAIL: epochreg.cgi links $lib"
        fail=1
        ;;
    esac
done
# What the loader really maps (NEEDED of NEEDED too).
mapped=$(ldd "$cgi" | awk '{print $1}' | xargs)
case " $mapped " in *" libpq.so"* | *" libcrypto.so"*)
    echo "cgi.linked: FAIL: loading epochreg.cgi maps libpq or libcrypto: $mapped"
    fail=1
    ;;
esac
case $static in
1 | 0) ;;
*)
    echo "cgi.linked: STATIC must be 1 or 0, not '$static'"
    exit 2
    ;;
esac
if [ "$static" = 1 ]; then
    for lib in $needed; do
        case $lib in
        libc.so.6 | libm.so.6 | ld-linux*) ;;
        libasan.so* | libubsan.so*) ;; # the sanitizer build's runtimes
        *)
            echo "cgi.linked: FAIL: EPOCHREG_CGI_STATIC=ON, but epochreg.cgi needs $lib"
            fail=1
            ;;
        esac
    done
fi
[ "$fail" = 0 ] && echo "cgi.linked: passed"
exit "$fail"
