#!/usr/bin/env bash
# The CGI benchmark: epochreg.cgi under a private Apache 2.4 (mod_cgid, event
# MPM, tests/fixtures/apache.sh), the one command.
#
#   bash tests/bench/cgi/run.sh [BUILD_DIR]
#
# In one run, in alternating rounds, wrk (-t2 --latency) on 127.0.0.1:
#   empty     GET of an empty C CGI program (bench_empty_cgi) under its own
#             Apache with the same configuration: the floor (Apache, fork,
#             exec, a 16-byte JSON answer)
#   post_sq   POST /epochs ({"tag":...}) through epochreg.cgi on SQLite
#   get_sq    GET /epochs?limit=100 on SQLite
#   post_ref  POST through bench_sqlite_cgi (sqlite_cgi.c) on the same SQLite
#             file: one durable INSERT per process without epochreg, the
#             second reference (what opening SQLite and committing costs)
#   post_pg   POST /epochs on a private, durable PostgreSQL (fsync on,
#             synchronous_commit on; tests/fixtures/pg.sh)
#   get_pg    GET /epochs?limit=100 on PostgreSQL
#   post_pgb, get_pgb  the same through pgbouncer (tests/fixtures/pgbouncer.sh:
#             session pooling, as the README recommends for CGI sites)
# Target (issue 4): a registration costs no more than twice the floor on
# SQLite, i.e. post_sq req/s >= 0.5 x empty req/s, as medians of one run.
#
# Count-back after every POST run: the rows with the run's tag are at least
# wrk's completed responses (none over 399 — wrk's own count — and no socket
# error) and at most that plus the connections in flight when wrk stopped.
# A run that fails it is FAILED and the script exits 1 after the report.
#
# Environment: BENCH_ROUNDS=3, BENCH_SECONDS=10, BENCH_CONNECTIONS=16 (one
# CGI process per request: more connections only add processes competing
# for the 2 CPUs), BENCH_SMOKE=0 (1: one round of one second, SQLite only,
# for ctest), BENCH_CGI, BENCH_EMPTY_CGI, BENCH_CLI (binaries; default: in
# BUILD_DIR, built there first), BENCH_OUT_DIR (default
# BUILD_DIR/bench-cgi-results).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../../.." && pwd)
build=${1:-$top/build-bench}
smoke=${BENCH_SMOKE:-0}
rounds=${BENCH_ROUNDS:-3}
secs=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-16}
if [ "$smoke" = 1 ]; then
    rounds=1
    secs=1
fi
for v in "$rounds" "$secs" "$conns"; do
    [[ $v =~ ^[1-9][0-9]{0,3}$ ]] || { echo "run.sh (cgi): BENCH_* must be positive integers" >&2; exit 2; }
done

work=$(mktemp -d /tmp/epochreg-bench-cgi.XXXXXX)
chmod 755 "$work"
log() { echo "run.sh (cgi): $*" >&2; }
die() {
    log "$*"
    exit 1
}
cleanup() {
    for s in empty sq ref pg pgb; do
        bash "$top/tests/fixtures/apache.sh" stop "$work/ap-$s" >/dev/null 2>&1 || true
    done
    [ -d "$work/pgb" ] && bash "$top/tests/fixtures/pgbouncer.sh" stop "$work/pgb" >/dev/null 2>&1 || true
    [ -d "$work/pg" ] && bash "$top/tests/fixtures/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ "$smoke" != 1 ]; then
    command -v wrk >/dev/null || {
        log "installing wrk"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk >&2
    }
    command -v pgbouncer >/dev/null || {
        log "installing pgbouncer"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends pgbouncer >&2
    }
    if [ ! -f "$build/CMakeCache.txt" ]; then
        cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DEPOCHREG_BUILD_CLI=ON >&2
    else
        cmake -S "$top" -B "$build" -DEPOCHREG_BUILD_CLI=ON >&2 # the CLI migrates PostgreSQL
    fi
    cmake --build "$build" -j2 --target epochreg_cgi bench_empty_cgi bench_sqlite_cgi epochreg_cli >&2
fi
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
cgi=${BENCH_CGI:-$build/frontends/cgi/epochreg.cgi}
empty=${BENCH_EMPTY_CGI:-$build/tests/bench/cgi/bench_empty_cgi}
sqref=${BENCH_SQLITE_CGI:-$build/tests/bench/cgi/bench_sqlite_cgi}
cli=${BENCH_CLI:-$build/frontends/cli/epochreg}
for b in "$cgi" "$empty" "$sqref" "$cli"; do
    [ -x "$b" ] || die "$b is not executable"
done

# shellcheck source=tests/bench/common.sh
source "$here/../common.sh" # field, median

# ---- servers ----
ref_tag="cgi-ref-$$" # sqlite_cgi.c writes one fixed tag: its runs count the difference
configs=(empty post_sq get_sq post_ref)
start_apache() { # start_apache NAME BINARY [VAR=VALUE ...]
    local name=$1 bin=$2
    shift 2
    bash "$top/tests/fixtures/apache.sh" start "$work/ap-$name" "$bin" "$@" >&2 ||
        die "Apache ($name) did not start"
}
start_apache empty "$empty"
start_apache sq "$cgi" "EPOCHREG_DB=sqlite:@ROOT@/data/bench.db" EPOCHREG_NODE=bench
sq_file=$(cat "$work/ap-sq/root")/data/bench.db
start_apache ref "$sqref" "BENCH_SQLITE_DB=$sq_file" "BENCH_SQLITE_TAG=$ref_tag"
if [ "$smoke" != 1 ]; then
    bash "$top/tests/fixtures/pg.sh" start "$work/pg" on >&2 || die "PostgreSQL did not start"
    pg_ci=$(cat "$work/pg/conninfo")
    psql -X -q -d "$pg_ci dbname=postgres" -c "CREATE DATABASE epochcgi" >&2
    pg_db="$pg_ci dbname=epochcgi"
    "$cli" --db "$pg_db" migrate >&2 || die "epochreg migrate failed"
    start_apache pg "$cgi" "EPOCHREG_DB=$pg_db" EPOCHREG_NODE=bench
    bash "$top/tests/fixtures/pgbouncer.sh" start "$work/pgb" "$work/pg" >&2 || die "pgbouncer did not start"
    start_apache pgb "$cgi" "EPOCHREG_DB=$(cat "$work/pgb/conninfo") dbname=epochcgi" EPOCHREG_NODE=bench
    configs+=(post_pg get_pg post_pgb get_pgb)
fi

count_rows() { # count_rows sq|pg TAG
    case $1 in
    sq) sqlite3 "file:$sq_file?mode=ro" "SELECT count(*) FROM epochreg_records WHERE tag = '$2'" ;;
    pg) psql -X -A -t -q -d "$pg_db" -v tag="$2" <<<"SELECT count(*) FROM epochreg_records WHERE tag = :'tag';" ;;
    esac
}

url_of() { # url_of CONFIG
    case $1 in
    empty) echo "$(cat "$work/ap-empty/url")/healthz" ;;
    post_sq) echo "$(cat "$work/ap-sq/url")/epochs" ;;
    get_sq) echo "$(cat "$work/ap-sq/url")/epochs?limit=100" ;;
    post_pg) echo "$(cat "$work/ap-pg/url")/epochs" ;;
    post_ref) echo "$(cat "$work/ap-ref/url")/epochs" ;;
    post_pgb) echo "$(cat "$work/ap-pgb/url")/epochs" ;;
    get_pgb) echo "$(cat "$work/ap-pgb/url")/epochs?limit=100" ;;
    get_pg) echo "$(cat "$work/ap-pg/url")/epochs?limit=100" ;;
    esac
}

# Seed: GET reads pages of 100, so each store holds at least that many.
for s in sq pg; do
    [ "$s" = pg ] && [ "$smoke" = 1 ] && continue
    wrk -t2 -c4 -d1s -s "$top/tests/bench/http/post.lua" "$(url_of post_$s)" -- seed >/dev/null
done

raw=$work/raw.txt
: >"$raw"
status_all=0
total=$((rounds * ${#configs[@]}))
n=0
for r in $(seq 1 "$rounds"); do
    order=("${configs[@]}")
    if [ $((r % 2)) = 0 ]; then
        mapfile -t order < <(printf '%s\n' "${configs[@]}" | tac)
    fi
    for c in "${order[@]}"; do
        n=$((n + 1))
        url=$(url_of "$c")
        tag="cgi-$c-r$r-$$"
        [ "$c" = post_ref ] && ref_before=$(count_rows sq "$ref_tag")
        if [[ $c == post_* ]]; then
            out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency --timeout 10s \
                -s "$top/tests/bench/http/post.lua" "$url" -- "$tag" 2>&1) || die "wrk failed: $out"
        else
            out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency --timeout 10s \
                -s "$top/tests/bench/http/get.lua" "$url" 2>&1) || die "wrk failed: $out"
        fi
        tally=$(sed -n 's/^TALLY //p' <<<"$out")
        [ -n "$tally" ] || die "wrk printed no TALLY line: $out"
        status=ok reason=""
        errs=$(($(field err_connect "$tally") + $(field err_read "$tally") + $(field err_write "$tally") + $(field err_timeout "$tally") + $(field err_status "$tally")))
        [ "$errs" = 0 ] || status=FAILED reason="errors=$errs"
        extra=""
        if [[ $c == post_* ]]; then
            store=${c#post_}
            acked=$(field requests "$tally")
            sleep 0.5
            if [ "$c" = post_ref ]; then
                tagged=$(($(count_rows sq "$ref_tag") - ref_before))
            elif [ "$c" = post_pgb ]; then
                tagged=$(count_rows pg "$tag")
            else
                tagged=$(count_rows "$store" "$tag")
            fi
            extra="rows_tagged=$tagged"
            if [ "$tagged" -lt "$acked" ] || [ "$tagged" -gt $((acked + conns)) ]; then
                status=FAILED reason="${reason:+$reason,}count:${acked}_acknowledged_${tagged}_stored"
            fi
        fi
        [ "$status" = ok ] || status_all=1
        echo "round=$r config=$c status=$status${reason:+ reason=$reason} $tally $extra" >>"$raw"
        log "[$n/$total] round $r $c: $(field rps "$tally") req/s, p50 $(field p50_us "$tally") us, p99 $(field p99_us "$tally") us ($status)"
    done
done

# ---- report ----
med() { grep " config=$1 status=ok " "$raw" | while read -r l; do field "$2" "$l"; done | median; }
label() {
    case $1 in
    empty) echo "empty C CGI program: GET (the floor)" ;;
    post_sq) echo "epochreg.cgi + SQLite: POST /epochs" ;;
    get_sq) echo "epochreg.cgi + SQLite: GET /epochs?limit=100" ;;
    post_ref) echo "reference: one SQLite INSERT per process, no epochreg (sqlite_cgi.c)" ;;
    post_pgb) echo "epochreg.cgi + pgbouncer + PostgreSQL: POST /epochs" ;;
    get_pgb) echo "epochreg.cgi + pgbouncer + PostgreSQL: GET /epochs?limit=100" ;;
    post_pg) echo "epochreg.cgi + PostgreSQL: POST /epochs" ;;
    get_pg) echo "epochreg.cgi + PostgreSQL: GET /epochs?limit=100" ;;
    esac
}
report() {
    echo "## epochreg.cgi under Apache benchmark"
    echo
    echo "- Command: \`$(printf '%q ' bash tests/bench/cgi/run.sh "$@")\` (BENCH_ROUNDS=$rounds BENCH_SECONDS=$secs BENCH_CONNECTIONS=$conns BENCH_SMOKE=$smoke)"
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC'); source: commit $(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- $(apache2 -v | head -1 | sed 's/Server version: //'), mod_cgid, event MPM; wrk -t2 -c$conns --latency; 2 CPUs shared by wrk, Apache, the CGI processes and PostgreSQL"
    echo
    echo "| configuration | median req/s | p50 ms | p99 ms | of the floor |"
    echo "|---|---:|---:|---:|---:|"
    local floor
    floor=$(med empty rps)
    for c in "${configs[@]}"; do
        local rps
        rps=$(med "$c" rps)
        echo "| $(label "$c") | $(printf '%.0f' "$rps") | $(awk -v u="$(med "$c" p50_us)" 'BEGIN{printf "%.2f", u/1000}') | $(awk -v u="$(med "$c" p99_us)" 'BEGIN{printf "%.2f", u/1000}') | $(awk -v a="$rps" -v b="$floor" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "n/a" }') |"
    done
    echo
    local ratio verdict
    ratio=$(awk -v a="$(med post_sq rps)" -v b="$floor" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print 0 }')
    verdict=$(awk -v r="$ratio" 'BEGIN{ print (r >= 0.5 ? "PASS" : "MISS") }')
    echo "Target: a registration on SQLite costs at most twice the floor (POST req/s ≥ 0.5 × the empty CGI's): **$verdict**, $ratio."
    echo
    echo "epochreg.cgi POST against the reference (one SQLite INSERT per process, no epochreg): $(awk -v a="$(med post_sq rps)" -v b="$(med post_ref rps)" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "n/a" }') (1.00 = as cheap as the least a CGI can do on SQLite)."
    echo
    echo "Count-back of every POST run: rows with the run's tag between wrk's completed responses and that + $conns; $(grep -c ' config=post_.* status=ok ' "$raw" || true) held, $(grep -c ' config=post_.* status=FAILED' "$raw" || true) failed."
    echo
    echo '```'
    cat "$raw"
    echo '```'
}
out_dir=${BENCH_OUT_DIR:-$build/bench-cgi-results}
mkdir -p "$out_dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
report "$@" | tee "$out_dir/bench-cgi-$stamp.md"
log "report: $out_dir/bench-cgi-$stamp.md"
exit "$status_all"
