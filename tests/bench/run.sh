#!/usr/bin/env bash
# The registration benchmark: the one command that produces the README table.
#
#   bash tests/bench/run.sh
#
# Measures registrations per second through libepochreg (bench_register) on
# PostgreSQL and SQLite, single and in batches of 1, 10, 100 and 1000, and,
# in the same run, the same inserts sent by pgbench as the reference:
# `-M prepared -c 1 -j 1`, one row per transaction and BEGIN; 100 rows; END.
#
# PostgreSQL is a private, durable server (fsync on, synchronous_commit on:
# the defaults) started with tests/fixtures/pg.sh and stopped by its pidfile
# on exit. SQLite is a file in a temporary directory on the same disk (WAL,
# synchronous=FULL: what the library sets). Every configuration runs once per
# round; rounds alternate forward and reverse order, so drift and noise on
# this shared machine hit every configuration alike. Before each run the
# table is emptied (PostgreSQL: TRUNCATE + CHECKPOINT; SQLite: a new file),
# so table size and checkpoint timing do not skew later runs. Every run's
# rows are counted back afterwards; a run whose count does not match is an
# error, not a figure.
#
# Environment (all optional):
#   BENCH_ROUNDS=5            rounds (each configuration once per round)
#   BENCH_SECONDS=5           timed seconds per run
#   BENCH_WARMUP=0.5          library warm-up seconds per run (untimed)
#   BENCH_PGBENCH_PIPELINE=1  also run pgbench's 100-row script pipelined
#                             (\startpipeline), the like-for-like reference
#                             for the library's pipelined batches (context)
#   BENCH_PGBENCH_C8=0        also run pgbench 1-row at -c 8 -j 2 (context
#                             only: 8 connections, not comparable)
#   BENCH_KEYS=0              1: also batches of 100 with a unique idempotency
#                             key per entry (the keyed path), on both stores
#   BENCH_FSYNC_TEST=0        1: also run pg_test_fsync -s 1 (~20 s)
#   BENCH_BUILD_DIR           build directory (default <repo>/build-bench)
#   BENCH_BIN                 a built bench_register (default: build it)
#   BENCH_OUT_DIR             where the results go (default <build>/bench-results)
#
# Output: the markdown report on stdout (also saved as bench-<time>.md) and
# every run's raw line in bench-<time>.raw.txt; progress goes to stderr.
set -euo pipefail

command_line="$(printf '%q ' bash "$0" "$@")"
rounds=${BENCH_ROUNDS:-5}
duration=${BENCH_SECONDS:-5}
warmup=${BENCH_WARMUP:-0.5}
with_pipeline=${BENCH_PGBENCH_PIPELINE:-1}
with_c8=${BENCH_PGBENCH_C8:-0}
with_fsync_test=${BENCH_FSYNC_TEST:-0}
with_keys=${BENCH_KEYS:-0}

die() {
    echo "run.sh: $*" >&2
    exit 1
}
# shellcheck source=tests/bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
log() {
    echo "run.sh: $*" >&2
}

[ $# -eq 0 ] || die "takes no arguments (settings are environment variables; see the header)"
[[ $rounds =~ ^[1-9][0-9]{0,2}$ ]] || die "BENCH_ROUNDS must be an integer 1..999"
[[ $duration =~ ^[1-9][0-9]{0,3}$ ]] || die "BENCH_SECONDS must be an integer 1..9999"
[[ $warmup =~ ^[0-9]{1,3}(\.[0-9]{1,3})?$ ]] || die "BENCH_WARMUP must be a number like 0.5"
for v in with_pipeline with_c8 with_fsync_test with_keys; do
    [[ ${!v} =~ ^[01]$ ]] || die "$v must be 0 or 1"
done

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${BENCH_BUILD_DIR:-$src/build-bench}
pg_script=$src/tests/fixtures/pg.sh
bindir=$(pg_config --bindir)
pgbench_bin=$bindir/pgbench
psql_bin=$bindir/psql
[ -x "$pgbench_bin" ] || die "pgbench not found in $bindir (apt-get install postgresql-15)"

# ---- the binary ----
if [ -n "${BENCH_BIN:-}" ]; then
    bench=$BENCH_BIN
else
    log "building bench_register in $build"
    cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DEPOCHREG_BUILD_TESTS=OFF \
        -DEPOCHREG_BUILD_CLI=OFF >"$build.configure.log" 2>&1 ||
        { cat "$build.configure.log" >&2; die "cmake configure failed"; }
    rm -f "$build.configure.log"
    cmake --build "$build" -j2 --target bench_register >&2 || die "build failed"
    bench=$build/tests/bench/bench_register
fi
[ -x "$bench" ] || die "$bench is not executable"

# ---- scratch space, the server, and their removal ----
work=$(mktemp -d /tmp/epochreg-bench.XXXXXX)
state=$work/pg
sqlite_dir=$work/sqlite
mkdir -p "$state" "$sqlite_dir"
cleanup() {
    local rc=$?
    bash "$pg_script" stop "$state" >/dev/null 2>&1 || rc=1
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out_dir=${BENCH_OUT_DIR:-$build/bench-results}
mkdir -p "$out_dir"
raw=$out_dir/bench-$stamp.raw.txt
report=$out_dir/bench-$stamp.md
: >"$raw"

log "starting a private PostgreSQL (fsync on)"
bash "$pg_script" start "$state" on >&2
conninfo=$(cat "$state/conninfo")
port=$(cat "$state/port")
db=epochbench
psql_admin() { "$psql_bin" -X -q -At -v ON_ERROR_STOP=1 "$conninfo dbname=postgres" "$@"; }
psql_db() { "$psql_bin" -X -q -At -v ON_ERROR_STOP=1 "$conninfo dbname=$db" "$@"; }
psql_admin -c "CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8'"
pg_uri="$conninfo dbname=$db"
"$bench" --uri "$pg_uri" --migrate 2>&1 | sed 's/^/run.sh: /' >&2

pg_setting() { psql_db -c "SHOW $1"; }
[ "$(pg_setting fsync)" = on ] || die "fsync is not on"
[ "$(pg_setting synchronous_commit)" = on ] || die "synchronous_commit is not on"

# ---- pgbench scripts: the library's inserts, as pgbench sends them ----
# Same table and columns; every value a bound parameter (-M prepared), as in
# the library: epoch_us increases per transaction (a batch shares one time,
# as in the library), tag unique to the run, client_ip 127.0.0.1, protocol
# http, a 32-hex-digit request id (a constant: the library draws a random one
# per row; request_id is not indexed), node "local", no idempotency key.
insert_sql='INSERT INTO epochreg_records (epoch_us, tag, client_ip, protocol, request_id, node) VALUES (:ts, :tag, :ip, :proto, :rid, :node);'
{
    echo '\set ts :ts + 1'
    echo "$insert_sql"
} >"$work/pgbench_1row.sql"
{
    echo '\set ts :ts + 1'
    echo 'BEGIN;'
    for _ in $(seq 1 100); do echo "$insert_sql"; done
    echo 'END;'
} >"$work/pgbench_100row.sql"
{
    echo '\set ts :ts + 1'
    echo '\startpipeline'
    echo 'BEGIN;'
    for _ in $(seq 1 100); do echo "$insert_sql"; done
    echo 'END;'
    printf '%s\n' '\endpipeline'
} >"$work/pgbench_100row_pipeline.sql"
request_id=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
[ ${#request_id} -eq 32 ] || die "could not make a request id"

# ---- configurations ----
# id|kind|label|rows per call|arguments
configs=(
    "pgb_1|pgbench|pgbench -M prepared -c 1, 1 row/txn|1|1row 1 1"
    "pgb_100|pgbench|pgbench -M prepared -c 1, 100 rows/txn|100|100row 1 1"
)
[ "$with_pipeline" = 1 ] && configs+=(
    "pgb_100p|pgbench|pgbench -M prepared -c 1, 100 rows/txn, pipelined (context)|100|100row_pipeline 1 1")
[ "$with_c8" = 1 ] && configs+=(
    "pgb_1c8|pgbench|pgbench -M prepared -c 8 -j 2, 1 row/txn (context only)|1|1row 8 2")
configs+=(
    "pg_single|lib-pg|epoch_register()|1|--mode single"
    "pg_b1|lib-pg|epoch_register_batch() ×1|1|--mode batch --batch 1"
    "pg_b10|lib-pg|epoch_register_batch() ×10|10|--mode batch --batch 10"
    "pg_b100|lib-pg|epoch_register_batch() ×100|100|--mode batch --batch 100"
    "pg_b1000|lib-pg|epoch_register_batch() ×1000|1000|--mode batch --batch 1000"
    "sq_single|lib-sqlite|epoch_register()|1|--mode single"
    "sq_b1|lib-sqlite|epoch_register_batch() ×1|1|--mode batch --batch 1"
    "sq_b10|lib-sqlite|epoch_register_batch() ×10|10|--mode batch --batch 10"
    "sq_b100|lib-sqlite|epoch_register_batch() ×100|100|--mode batch --batch 100"
    "sq_b1000|lib-sqlite|epoch_register_batch() ×1000|1000|--mode batch --batch 1000"
)
[ "$with_keys" = 1 ] && configs+=(
    "pg_b100k|lib-pg|epoch_register_batch() ×100, unique keys|100|--mode batch --batch 100 --keys"
    "sq_b100k|lib-sqlite|epoch_register_batch() ×100, unique keys|100|--mode batch --batch 100 --keys")

pg_reset() {
    psql_db -c "TRUNCATE epochreg_records" -c "CHECKPOINT"
}

run_pgbench() { # round id script clients threads rows_per_txn
    local round=$1 id=$2 script=$3 clients=$4 threads=$5 rows=$6
    local tag="pgbench-$id-r$round-$$" out processed failed tps found p50 p99 lat_files
    pg_reset
    rm -f "$work"/pgblog*
    out=$(cd "$work" && "$pgbench_bin" -n -M prepared -c "$clients" -j "$threads" \
        -T "$duration" -f "$work/pgbench_$script.sql" \
        -D ts="$(date +%s%6N)" -D tag="$tag" -D ip=127.0.0.1 -D proto=http \
        -D rid="$request_id" -D node=local -l --log-prefix="$work/pgblog" \
        -h 127.0.0.1 -p "$port" -U postgres "$db" 2>&1) || {
        echo "$out" >&2
        die "pgbench failed ($id, round $round)"
    }
    pgbench_counts "$out" "$id" "$round"
    found=$(psql_db -c "SELECT count(*) FROM epochreg_records WHERE tag = '$tag'")
    [ "$found" -eq $((processed * rows)) ] ||
        die "count FAILED for $id round $round: pgbench reported $((processed * rows)) rows, found $found"
    # Per-transaction latency (µs, third column of the -l log) -> ms percentiles.
    lat_files=("$work"/pgblog*)
    read -r p50 p99 < <(awk '{print $3}' "${lat_files[@]}" | sort -n |
        awk '{a[NR]=$1} END {
            i50 = int((NR * 50 + 99) / 100); i99 = int((NR * 99 + 99) / 100);
            if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1;
            printf "%.3f %.3f\n", a[i50] / 1000, a[i99] / 1000 }')
    rm -f "$work"/pgblog*
    echo "backend=postgresql tool=pgbench script=$script clients=$clients rows_per_txn=$rows txns=$processed rows=$((processed * rows)) seconds=$duration tps=$tps rows_per_s=$(awk -v t="$tps" -v r="$rows" 'BEGIN{printf "%.1f", t * r}') p50_ms=$p50 p99_ms=$p99 verified_rows=$found tag=$tag"
}

run_lib() { # backend bench_register-arguments...
    local backend=$1 uri
    shift
    if [ "$backend" = lib-pg ]; then
        pg_reset
        uri=$pg_uri
    else
        rm -f "$sqlite_dir"/bench.db*
        uri="sqlite:$sqlite_dir/bench.db"
    fi
    "$bench" --uri "$uri" --seconds "$duration" --warmup "$warmup" "$@" ||
        die "bench_register failed: $backend $*"
}

# ---- machine and versions ----
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
pg_version=$(psql_db -c "SELECT version()")
pg_settings=$(psql_db -F '=' -c "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'shared_buffers', 'max_wal_size', 'checkpoint_timeout') ORDER BY name" | tr '\n' ' ')
sqlite_version=$(dpkg-query -W -f='${Version}' libsqlite3-0 2>/dev/null || echo unknown)
libpq_version=$(dpkg-query -W -f='${Version}' libpq5 2>/dev/null || echo unknown)
fs_info=$(df -PT "$work" | awk 'NR == 2 {print $1 " (" $2 ")"}')
pg_fs_info=$(df -PT "$(dirname "$(cat "$state/datadir")")" | awk 'NR == 2 {print $1 " (" $2 ")"}')
fsync_report=""
if [ "$with_fsync_test" = 1 ]; then
    log "running pg_test_fsync -s 1 (BENCH_FSYNC_TEST=1)"
    fsync_report=$("$bindir/pg_test_fsync" -s 1 -f "$work/pg_test_fsync.out" 2>&1) ||
        die "pg_test_fsync failed: $fsync_report"
    rm -f "$work/pg_test_fsync.out"
fi

total=$((rounds * ${#configs[@]}))
log "$rounds rounds × ${#configs[@]} configurations × ${duration} s (about $((total * (duration + 2) / 60 + 1)) min)"
n=0
for round in $(seq 1 "$rounds"); do
    order=("${configs[@]}")
    if [ $((round % 2)) -eq 0 ]; then # reverse order on even rounds
        order=()
        for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[$i]}"); done
    fi
    probe=$(disk_probe)
    echo "round=$round config=disk_probe dsync_8k_ms=$probe" >>"$raw"
    log "round $round: disk probe $probe ms per 8 kB O_DSYNC write"
    for c in "${order[@]}"; do
        IFS='|' read -r id kind _label _rows args <<<"$c"
        n=$((n + 1))
        if [ "$kind" = pgbench ]; then
            read -r script clients threads <<<"$args"
            line=$(run_pgbench "$round" "$id" "$script" "$clients" "$threads" "$_rows")
        else
            # shellcheck disable=SC2086 # $args is a list of words on purpose
            line=$(run_lib "$kind" $args)
        fi
        echo "round=$round config=$id $line" >>"$raw"
        log "[$n/$total] round $round $id: $(field rows_per_s "$line") rows/s, p50 $(field p50_ms "$line") ms, p99 $(field p99_ms "$line") ms"
    done
done

# ---- the report ----
values() { # values ID FIELD -> one value per round, in round order
    grep " config=$1 " "$raw" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
round_value() { # round_value ID FIELD ROUND
    grep "^round=$3 config=$1 " "$raw" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
fmt_int() { awk -v x="$1" 'BEGIN { printf "%.0f", x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
paired_ratio() { # median over rounds of lib/ref in the same round
    local r
    for r in $(seq 1 "$rounds"); do
        awk -v a="$(round_value "$1" rows_per_s "$r")" -v b="$(round_value "$2" rows_per_s "$r")" \
            'BEGIN { if (b > 0) printf "%.4f\n", a / b }'
    done | median
}
declare -A med
for c in "${configs[@]}"; do
    IFS='|' read -r id _ <<<"$c"
    med[$id]=$(values "$id" rows_per_s | median)
done
verdict() { awk -v r="$1" 'BEGIN { print (r >= 0.80) ? "**met**" : "**NOT met**" }'; }

{
    echo "## epochreg registration benchmark"
    echo
    echo "- Command: \`$(printf 'BENCH_ROUNDS=%s BENCH_SECONDS=%s BENCH_WARMUP=%s BENCH_PGBENCH_PIPELINE=%s BENCH_PGBENCH_C8=%s BENCH_KEYS=%s BENCH_FSYNC_TEST=%s ' "$rounds" "$duration" "$warmup" "$with_pipeline" "$with_c8" "$with_keys" "$with_fsync_test")$command_line\`"
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC') (started $stamp)"
    echo "- Machine: $(nproc) CPUs, $cpu_model; $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo); kernel $(uname -r)"
    echo "- Disk: SQLite file on $fs_info, PostgreSQL data on $pg_fs_info; one 8 kB O_DSYNC write (dd, 200 per probe, one probe before each round): median $(values disk_probe dsync_8k_ms | median) ms, range $(values disk_probe dsync_8k_ms | sort -g | head -1)–$(values disk_probe dsync_8k_ms | sort -g | tail -1) ms"
    echo "- PostgreSQL: $pg_version; libpq $libpq_version; $pg_settings"
    echo "- SQLite: $sqlite_version (WAL, synchronous=FULL, as the library sets)"
    echo "- Method: $rounds rounds × $duration s per configuration, rounds alternating forward/reverse order; library runs warm up ${warmup} s first (untimed); table emptied before every run (TRUNCATE + CHECKPOINT / new SQLite file); every run's rows counted back (library: listing by the run's tag through a new handle; pgbench: count(*) by tag) and must equal the acknowledged rows. Figures are medians over rounds; p50/p99 are per call (library) or per transaction (pgbench), median over rounds."
    echo "- Fairness: one client connection each, single-threaded (pgbench -c 1 -j 1 vs the library's one thread and handle), TCP on 127.0.0.1 to the same server, same table, same indexes, same values. Client and server share the $(nproc) CPUs. A library registration is BEGIN; SELECT pg_advisory_xact_lock(..); INSERT .. RETURNING id (an entry with an idempotency key: a CTE that also reads a stored key); COMMIT, all prepared and sent as one pipeline; pgbench's 1-row transaction is one autocommit INSERT. pgbench's 100-row script sends each INSERT and waits for it (102 round trips); the library pipelines a batch (one round trip per 256 rows), so the pipelined pgbench row is the like-for-like reference for batches and is shown for context. pgbench has no warm-up beyond its own first transactions; its tps excludes connection time."
    echo
    echo "| system | store | configuration | rows/call | median rows/s | min–max rows/s | p50 ms | p99 ms | vs pgbench |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---|"
    for c in "${configs[@]}"; do
        IFS='|' read -r id kind label rows _ <<<"$c"
        case $kind in
        pgbench) sys=pgbench store=PostgreSQL ;;
        lib-pg) sys=libepochreg store=PostgreSQL ;;
        *) sys=libepochreg store=SQLite ;;
        esac
        vs=""
        case $id in
        pg_single | pg_b1) vs="$(ratio "${med[$id]}" "${med[pgb_1]}") × 1-row" ;;
        pg_b100)
            vs="$(ratio "${med[$id]}" "${med[pgb_100]}") × 100-row"
            [ "$with_pipeline" = 1 ] && vs="$vs; $(ratio "${med[$id]}" "${med[pgb_100p]}") × pipelined"
            ;;
        esac
        mn=$(values "$id" rows_per_s | sort -g | head -1)
        mx=$(values "$id" rows_per_s | sort -g | tail -1)
        echo "| $sys | $store | $label | $rows | $(fmt_int "${med[$id]}") | $(fmt_int "$mn")–$(fmt_int "$mx") | $(values "$id" p50_ms | median) | $(values "$id" p99_ms | median) | $vs |"
    done
    echo
    echo "Target: the library's batch path reaches at least 80% of pgbench's rows/s at the same batch size."
    echo
    echo "The rows/s ratio of medians is the figure the target is judged on. Two less noise-sensitive views: the median of the per-round ratios (pairs runs of the same round) and the p50 ratio (median p50 per call of pgbench / of the library, at the same rows per call: throughput implied by typical latency, which bursts of another tenant's I/O disturb least)."
    echo
    echo "| comparison | ratio of medians (rows/s) | median of per-round ratios | p50 ratio | target 0.80 |"
    echo "|---|---:|---:|---:|---|"
    compare() { # lib ref label target?
        local r
        r=$(ratio "${med[$1]}" "${med[$2]}")
        echo "| $3 | $r | $(printf '%.2f' "$(paired_ratio "$1" "$2")") | $(ratio "$(values "$2" p50_ms | median)" "$(values "$1" p50_ms | median)") | $([ "$4" = 1 ] && verdict "$r" || echo —) |"
    }
    compare pg_b1 pgb_1 "epoch_register_batch() ×1 / pgbench 1 row/txn" 1
    compare pg_b100 pgb_100 "epoch_register_batch() ×100 / pgbench 100 rows/txn" 1
    compare pg_single pgb_1 "epoch_register() / pgbench 1 row/txn (context)" 0
    if [ "$with_pipeline" = 1 ]; then
        compare pg_b100 pgb_100p "epoch_register_batch() ×100 / pgbench 100 rows/txn pipelined (context)" 0
    fi
    echo
    noisy=""
    for c in "${configs[@]}"; do
        IFS='|' read -r id _ <<<"$c"
        spread=$(values "$id" rows_per_s | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {if (lo > 0) printf "%.1f", hi / lo}')
        if awk -v s="$spread" 'BEGIN { exit !(s > 1.5) }'; then noisy="$noisy $id (${spread}×)"; fi
    done
    if [ -n "$noisy" ]; then
        echo "**Noise warning:** max/min rows/s over the rounds exceeded 1.5× for:$noisy. The machine was disturbed during this run (see the disk probes in the raw file); medians and the p50 ratio resist this, single runs do not."
    else
        echo "Noise: max/min rows/s over the rounds stayed within 1.5× for every configuration."
    fi
    echo
    if [ -n "$fsync_report" ]; then
        echo "pg_test_fsync -s 1 (same disk):"
        echo
        echo '```'
        echo "$fsync_report"
        echo '```'
        echo
    fi
    echo "Raw results (one line per run): \`$raw\`"
    echo
    echo '```'
    cat "$raw"
    echo '```'
} | tee "$report"
log "report: $report; raw: $raw"
