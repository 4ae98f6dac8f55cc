#!/usr/bin/env bash
# The HTTP benchmark of epochregd: the one command.
#
#   bash tests/bench/http/run.sh [BUILD_DIR]
#
# In one run, in alternating rounds, with wrk (-t2 -c64 --latency) on
# 127.0.0.1:
#   post_pg   POST /epochs on epochregd + PostgreSQL (tagged {"tag":...} body)
#   post_sq   POST /epochs on epochregd + SQLite
#   get_pg    GET /epochs?limit=100 on epochregd + PostgreSQL (>= 1000 rows)
#   get_sq    GET /epochs?limit=100 on epochregd + SQLite
#   healthz   GET /healthz on epochregd (no store: the daemon's HTTP layer)
#   trivial   GET on bench_trivial_responder: bare evhttp, one loop, a fixed
#             record-sized JSON body: the HTTP ceiling on this machine
# and, as the database's own references, pgbench -M prepared -j 2 at 1, 8, 16,
# 32 and 64 clients against the same server and table:
#   pgbi_cN   one INSERT per transaction, the daemon's columns and values
#   pgbs_cN   the daemon's listing: SELECT <its columns> ... ORDER BY id DESC
#             LIMIT 101 (a page of 100 plus one, as the library asks)
# Then once: 10 000 idle keep-alive connections (each sent one GET /healthz)
# held against a fresh daemon (--max-connections 12000): its RSS before and
# after.
#
# PostgreSQL is a private, durable server (fsync on, synchronous_commit on)
# started with tests/fixtures/pg.sh and stopped by its pidfile on exit; SQLite
# is a file in a temporary directory on the same disk. Each daemon runs for
# the whole benchmark (started once, as in production), warmed up by a short
# POST run that also seeds the rows GET reads. Before every run on a store
# it is checkpointed (PostgreSQL CHECKPOINT; SQLite wal_checkpoint(TRUNCATE)).
#
# Count-back, after every POST run (wrk's and pgbench's): the store's rows
# are counted before and after (after: once the count is stable), and by the
# run's unique tag. The run must have no socket error, no status over 399
# at the client (wrk's own count) and, in the daemon's access log for the
# run, no status but 2xx and a 2xx line for every response wrk completed;
# each completed response is then an acknowledgement (2xx below), and
#   2xx <= rows added == rows with the tag <= 2xx + connections
# (every acknowledged record stored; at most one unacknowledged record per
# connection in flight when wrk stopped). pgbench: rows with the tag equal
# the transactions it reports. A run that fails this is marked FAILED, left
# out of every median, and makes the script exit 1 after the report. A
# missed target is a measurement, not an error: it prints MISS and exit 0.
#
# Environment (all optional):
#   BENCH_ROUNDS=3              rounds (each configuration once per round)
#   BENCH_SECONDS=10            seconds per run
#   BENCH_CONNECTIONS=64        wrk connections (the targets are stated at 64)
#   BENCH_PGBENCH_CLIENTS="1 8 16 32 64"
#   BENCH_IDLE_CONNS=10000      idle connections for the RSS figure
#   BENCH_SEED_ROWS=1000        rows each store holds before the first GET
#   BENCH_WARMUP=2              seconds of POST per daemon before round 1
#   BENCH_WORKERS, BENCH_BATCH_MAX   passed to epochregd as --workers and
#                               --batch-max (unset: the daemon's defaults)
#   BENCH_HEALTHZ=1             0: leave out the /healthz configuration
#   BENCH_MAX_FOREIGN=25        a run during which processes other than ours
#   BENCH_BUSY_RETRIES=2        (other tenants of this shared machine) took
#                               more than this % of all CPUs is measured again
#                               after 10 s, up to this many times; the least
#                               disturbed attempt counts (the others stay in
#                               the raw file as status=busy)
#   BENCH_SMOKE=0               1: the CTest smoke mode: 1 round of 1 s,
#                               SQLite only (no PostgreSQL, no pgbench), 100
#                               idle connections, no build, no apt-get
#   BENCH_DAEMON, BENCH_RESPONDER, BENCH_IDLE_CLIENTS   the binaries
#                               (default: in BUILD_DIR, built there first)
#   BENCH_NO_BUILD=0            1: do not run cmake --build
#   BENCH_OUT_DIR               where results go (default <build>/bench-http-results)
#
# BUILD_DIR defaults to <repo>/build-bench (configured Release, tests off, if
# new). Output: the Markdown report on stdout, also saved as
# bench-http-<time>.md beside bench-http-<time>.raw.txt (one line per run)
# and bench-http-<time>.wrk.txt (wrk's and pgbench's full output); progress
# goes to stderr.
set -euo pipefail

qcmd() { # qcmd WORDS... -> one shell-quoted command line
    local out
    out=$(printf '%q ' "$@")
    echo "${out% }"
}
command_line="$(qcmd bash "$0" "$@")"

die() {
    echo "run.sh (http): $*" >&2
    exit 1
}
# shellcheck source=tests/bench/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
log() {
    echo "run.sh (http): $*" >&2
}

# The daemon reads EPOCHREG_* as fallbacks for its flags: the benchmark's
# daemons get only the flags written in this script.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^EPOCHREG_' || true)

[ $# -le 1 ] || die "usage: bash tests/bench/http/run.sh [BUILD_DIR] (settings are environment variables; see the header)"

smoke=${BENCH_SMOKE:-0}
[[ $smoke =~ ^[01]$ ]] || die "BENCH_SMOKE must be 0 or 1"
if [ "$smoke" = 1 ]; then
    rounds=1 duration=1 idle_n=100 warmup=1 with_pg=0
    pgb_clients=""
else
    rounds=${BENCH_ROUNDS:-3}
    duration=${BENCH_SECONDS:-10}
    idle_n=${BENCH_IDLE_CONNS:-10000}
    warmup=${BENCH_WARMUP:-2}
    with_pg=1
    pgb_clients=${BENCH_PGBENCH_CLIENTS:-1 8 16 32 64}
fi
conns=${BENCH_CONNECTIONS:-64}
seed_rows=${BENCH_SEED_ROWS:-1000}
with_healthz=${BENCH_HEALTHZ:-1}
max_foreign=${BENCH_MAX_FOREIGN:-25}
busy_retries=${BENCH_BUSY_RETRIES:-2}
[ "$smoke" = 1 ] && busy_retries=0
no_build=${BENCH_NO_BUILD:-$smoke}
wrk_threads=2
[[ $rounds =~ ^[1-9][0-9]{0,2}$ ]] || die "BENCH_ROUNDS must be an integer 1..999"
[[ $duration =~ ^[1-9][0-9]{0,3}$ ]] || die "BENCH_SECONDS must be an integer 1..9999"
[[ $conns =~ ^[1-9][0-9]{0,3}$ ]] || die "BENCH_CONNECTIONS must be an integer 1..9999"
[ "$conns" -ge "$wrk_threads" ] || die "BENCH_CONNECTIONS must be at least $wrk_threads"
[[ $idle_n =~ ^[1-9][0-9]{0,4}$ ]] || die "BENCH_IDLE_CONNS must be an integer 1..99999"
[[ $seed_rows =~ ^[0-9]{1,7}$ ]] || die "BENCH_SEED_ROWS must be an integer"
[[ $warmup =~ ^[1-9][0-9]{0,2}$ ]] || die "BENCH_WARMUP must be an integer 1..999 (seconds)"
[[ $with_healthz =~ ^[01]$ ]] || die "BENCH_HEALTHZ must be 0 or 1"
[[ $max_foreign =~ ^[0-9]{1,3}$ ]] || die "BENCH_MAX_FOREIGN must be an integer percentage"
[[ $busy_retries =~ ^[0-9]$ ]] || die "BENCH_BUSY_RETRIES must be an integer 0..9"
[[ $no_build =~ ^[01]$ ]] || die "BENCH_NO_BUILD must be 0 or 1"
for c in $pgb_clients; do
    [[ $c =~ ^[1-9][0-9]{0,2}$ ]] || die "BENCH_PGBENCH_CLIENTS must be integers 1..999"
done
daemon_opts=()
if [ -n "${BENCH_WORKERS:-}" ]; then
    [[ $BENCH_WORKERS =~ ^[1-9][0-9]?$ ]] || die "BENCH_WORKERS must be an integer"
    daemon_opts+=(--workers "$BENCH_WORKERS")
fi
if [ -n "${BENCH_BATCH_MAX:-}" ]; then
    [[ $BENCH_BATCH_MAX =~ ^[1-9][0-9]{0,4}$ ]] || die "BENCH_BATCH_MAX must be an integer"
    daemon_opts+=(--batch-max "$BENCH_BATCH_MAX")
fi

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
here=$src/tests/bench/http
build=${1:-$src/build-bench}
pg_script=$src/tests/fixtures/pg.sh

# ---- tools ----
if ! command -v wrk >/dev/null 2>&1; then
    if [ "$smoke" = 1 ]; then
        die "wrk is not installed (apt-get install -y wrk; the full benchmark, bash tests/bench/http/run.sh, installs it itself)"
    fi
    log "installing wrk (apt-get install -y wrk)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >&2 ||
        die "could not install wrk (apt-get install -y wrk)"
    command -v wrk >/dev/null 2>&1 || die "wrk still missing after apt-get"
fi
for tool in curl sqlite3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install -y $tool)"
done
if [ "$with_pg" = 1 ]; then
    bindir=$(pg_config --bindir) || die "pg_config not found (apt-get install -y postgresql-15)"
    pgbench_bin=$bindir/pgbench
    psql_bin=$bindir/psql
    [ -x "$pgbench_bin" ] || die "pgbench not found in $bindir (apt-get install -y postgresql-15)"
fi

# ---- the binaries ----
if [ "$no_build" != 1 ]; then
    if [ ! -f "$build/CMakeCache.txt" ]; then
        log "configuring $build (Release, tests off)"
        mkdir -p "$build"
        cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DEPOCHREG_BUILD_TESTS=OFF \
            -DEPOCHREG_BUILD_CLI=OFF >"$build/bench-http.configure.log" 2>&1 ||
            { cat "$build/bench-http.configure.log" >&2; die "cmake configure failed"; }
    fi
    log "building epochregd and the benchmark helpers in $build"
    cmake --build "$build" -j2 --target epochregd bench_trivial_responder bench_idle_clients >&2 ||
        die "build failed"
fi
daemon=${BENCH_DAEMON:-$build/frontends/epochregd/epochregd}
responder=${BENCH_RESPONDER:-$build/tests/bench/http/bench_trivial_responder}
idle_client=${BENCH_IDLE_CLIENTS:-$build/tests/bench/http/bench_idle_clients}
for b in "$daemon" "$responder" "$idle_client"; do
    [ -x "$b" ] || die "$b is not executable (build it: cmake --build $build --target epochregd bench_trivial_responder bench_idle_clients)"
done
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
sanitized=$(sed -n 's/^EPOCHREG_SANITIZE:BOOL=//p' "$build/CMakeCache.txt" 2>/dev/null || true)

# ---- open-file limit: the idle connections need it, in the daemon and the client ----
want_fds=$((idle_n + 2048))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
    if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want_fds" ]; then
        ulimit -Hn "$want_fds" 2>/dev/null ||
            die "the hard open-file limit $(ulimit -Hn) is below $want_fds (run as root or lower BENCH_IDLE_CONNS)"
    fi
    ulimit -n "$want_fds" || die "cannot raise the open-file limit to $want_fds"
fi

# ---- scratch space, servers, and their removal ----
work=$(mktemp -d /tmp/epochreg-bench-http.XXXXXX)
state=$work/pg
mkdir -p "$state" "$work/sqlite"
started=() # PIDs of every process this script started and has not stopped yet
cleanup() {
    local rc=$? pid
    for pid in "${started[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${started[@]}"; do
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
    if [ "$with_pg" = 1 ]; then
        bash "$pg_script" stop "$state" >/dev/null 2>&1 || rc=1
    fi
    exec 7>&- 2>/dev/null || true
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget_pid() { # forget_pid PID: drop it from started
    local keep=() p
    for p in "${started[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    started=("${keep[@]}")
}

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out_dir=${BENCH_OUT_DIR:-$build/bench-http-results}
mkdir -p "$out_dir"
raw=$out_dir/bench-http-$stamp.raw.txt
wrk_log=$out_dir/bench-http-$stamp.wrk.txt
report=$out_dir/bench-http-$stamp.md
: >"$raw"
: >"$wrk_log"

# ---- PostgreSQL ----
db=epochhttp
pg_postmaster=""
if [ "$with_pg" = 1 ]; then
    log "starting a private PostgreSQL (fsync on)"
    bash "$pg_script" start "$state" on >&2
    conninfo=$(cat "$state/conninfo")
    pg_port=$(cat "$state/port")
    psql_admin() { "$psql_bin" -X -q -At -v ON_ERROR_STOP=1 "$conninfo dbname=postgres" "$@"; }
    psql_db() { "$psql_bin" -X -q -At -v ON_ERROR_STOP=1 "$conninfo dbname=$db" "$@"; }
    psql_admin -c "CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8'"
    pg_uri="$conninfo dbname=$db"
    pg_postmaster=$(head -1 "$(cat "$state/datadir")/postmaster.pid")
    [ "$(psql_db -c 'SHOW fsync')" = on ] || die "fsync is not on"
    [ "$(psql_db -c 'SHOW synchronous_commit')" = on ] || die "synchronous_commit is not on"
fi
sq_file=$work/sqlite/bench.db
sq_uri="sqlite:$sq_file"

# ---- stores: counting and checkpoints ----
sq_query() { sqlite3 -batch -cmd ".timeout 10000" "$sq_file" "$1"; }
count_rows() { # count_rows STORE [TAG]
    local where=""
    [ -n "${2:-}" ] && where=" WHERE tag = '$2'" # the tag is [A-Za-z0-9._:-] only
    case $1 in
    pg) psql_db -c "SELECT count(*) FROM epochreg_records$where" ;;
    sq) sq_query "SELECT count(*) FROM epochreg_records$where" ;;
    *) die "count_rows: unknown store $1" ;;
    esac
}
count_settled() { # count_settled STORE: the count once it has stopped changing
    local a b i
    a=$(count_rows "$1")
    for i in $(seq 1 40); do
        sleep 0.25
        b=$(count_rows "$1")
        [ "$a" = "$b" ] && { echo "$b"; return; }
        a=$b
    done
    die "the row count of $1 kept changing for 10 s after the run"
}
checkpoint() { # checkpoint STORE
    case $1 in
    pg) psql_db -c "CHECKPOINT" ;;
    sq) sq_query "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null ;;
    esac
}

# ---- processes ----
declare -A dpid dport ddir
wait_ports_file() { # wait_ports_file FILE PID NAME -> the port
    local f=$1 pid=$2 name=$3 port=""
    for _ in $(seq 1 600); do
        if [ -s "$f" ]; then
            port=$(awk '$1 == "http" && $3 ~ /^[0-9]+$/ {print $3; exit}' "$f")
            [ -n "$port" ] && { echo "$port"; return; }
        fi
        kill -0 "$pid" 2>/dev/null || die "$name exited before listening"
        sleep 0.1
    done
    die "$name wrote no port to $f within 60 s"
}
http_status() { # http_status URL -> the status code (000 when none)
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$1" || true
}
show_stderr() { # show_stderr NAME: the end of a daemon's stderr, on stderr
    [ -n "${ddir[$1]:-}" ] || return 0
    echo "---- epochregd ($1) stderr, last 40 lines ----" >&2
    tail -n 40 "${ddir[$1]}/stderr" >&2 || true
    echo "---- epochregd ($1) log, last 20 lines ----" >&2
    tail -n 20 "${ddir[$1]}/log" >&2 || true
}
start_daemon() { # start_daemon NAME URI [daemon options...]
    local name=$1 uri=$2 dir=$work/d-$1 pid port code
    shift 2
    mkdir -p "$dir"
    rm -f "$dir/ports" "$dir/pid"
    ddir[$name]=$dir
    daemon_cmd[$name]="$(qcmd "$daemon" --listen 127.0.0.1:0 --ports-file "$dir/ports" \
        --pidfile "$dir/pid" --db "$uri" --log-file "$dir/log" "${daemon_opts[@]}" "$@")"
    "$daemon" --listen 127.0.0.1:0 --ports-file "$dir/ports" --pidfile "$dir/pid" \
        --db "$uri" --log-file "$dir/log" "${daemon_opts[@]}" "$@" \
        >"$dir/stdout" 2>"$dir/stderr" </dev/null &
    pid=$!
    started+=("$pid")
    dpid[$name]=$pid
    port=$(wait_ports_file "$dir/ports" "$pid" "epochregd ($name)") ||
        { show_stderr "$name"; exit 1; }
    dport[$name]=$port
    for _ in $(seq 1 300); do
        code=$(http_status "http://127.0.0.1:$port/readyz")
        [ "$code" = 200 ] && break
        kill -0 "$pid" 2>/dev/null || { show_stderr "$name"; die "epochregd ($name) exited while starting"; }
        sleep 0.1
    done
    [ "$code" = 200 ] || { show_stderr "$name"; die "epochregd ($name): /readyz answered $code for 30 s"; }
    if [ -s "$dir/pid" ] && [ "$(head -1 "$dir/pid")" != "$pid" ]; then
        die "epochregd ($name): --pidfile holds $(head -1 "$dir/pid"), but its PID is $pid"
    fi
    log "epochregd ($name) on 127.0.0.1:$port, pid $pid"
}
stop_daemon() { # stop_daemon NAME: SIGTERM, and it must exit 0
    local name=$1 pid=${dpid[$1]} rc=0
    kill -TERM "$pid"
    wait "$pid" || rc=$?
    forget_pid "$pid"
    if [ "$rc" != 0 ]; then
        show_stderr "$name"
        die "epochregd ($name) exited with status $rc after SIGTERM (expected 0)"
    fi
    if grep -q -E 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "${ddir[$name]}/stderr"; then
        show_stderr "$name"
        die "epochregd ($name): sanitizer report on stderr"
    fi
}
declare -A daemon_cmd
rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
hwm_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
cpu_ticks() { # user + system clock ticks of a process
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
clk_tck=$(getconf CLK_TCK)
pg_ticks() { # CPU ticks of our PostgreSQL: the postmaster, with its reaped children, and its live children
    [ -n "$pg_postmaster" ] || { echo 0; return; }
    # cat, not awk FILE...: processes come and go while the files are read.
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$pg_postmaster" '{
        pid = $1; line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
        if (pid == pm) s += f[12] + f[13] + f[14] + f[15]; else if (f[2] == pm) s += f[12] + f[13]
    } END { print s + 0 }'
}
# Where the machine's CPU went during a run, to tell a measurement from a
# disturbed one on this shared machine: the server, our PostgreSQL, the
# client (wrk or pgbench: children of the calling shell, from `times`) and
# everything else ("foreign": other tenants).
# cpu_snapshot SERVER_PID|- sets snap="busy total server pg client_seconds".
# Not to be called as $(cpu_snapshot): `times` must run in the shell whose
# children (the client) it reports, not in a forked subshell.
cpu_snapshot() {
    local f=$work/times.$BASHPID server=0
    times >"$f"
    [ "$1" != - ] && server=$(cpu_ticks "$1")
    snap="$(awk '/^cpu / { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6; exit }' /proc/stat) $server $(pg_ticks) $(awk '
        function secs(x, a) { split(x, a, "m"); sub(/s$/, "", a[2]); return a[1] * 60 + a[2] }
        NR == 2 { print secs($1) + secs($2) }' "$f")"
    rm -f "$f"
}
cpu_fields() { # cpu_fields SNAPSHOT_BEFORE SNAPSHOT_AFTER REQUESTS -> key=value fields
    awk -v a="$1" -v b="$2" -v n="$3" -v hz="$clk_tck" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        busy = y[1] - x[1]; total = y[2] - x[2]; srv = y[3] - x[3]; pg = y[4] - x[4]
        cl = (y[5] - x[5]) * hz; foreign = busy - srv - pg - cl
        if (foreign < 0) foreign = 0; if (total <= 0) total = 1; if (n <= 0) n = 1
        printf "server_cpu_us_per_req=%.1f pg_cpu_us_per_req=%.1f client_cpu_us_per_req=%.1f machine_busy_pct=%.1f foreign_cpu_pct=%.1f\n",
            srv / hz * 1e6 / n, pg / hz * 1e6 / n, cl / hz * 1e6 / n, busy / total * 100, foreign / total * 100 }'
}

# ---- wrk ----
remember_cmd() { # remember_cmd KIND COMMAND: the first exact command line of each kind
    # (a file, not a variable: runs happen in subshells)
    [ -f "$work/cmd-$1" ] || echo "$2" >"$work/cmd-$1"
}
wrk_run() { # wrk_run LABEL URL SCRIPT [ARGS...] -> the TALLY line (with wrk's output logged)
    local label=$1 url=$2 script=$3 out rc=0
    shift 3
    local cmd=(wrk -t"$wrk_threads" -c"$conns" -d"${duration}s" --latency --timeout 10s
        -s "$script" "$url")
    [ $# -gt 0 ] && cmd+=(-- "$@")
    out=$("${cmd[@]}" 2>&1) || rc=$?
    { echo "==== $label: $(printf '%q ' "${cmd[@]}")"; echo "$out"; } >>"$wrk_log"
    [ "$rc" = 0 ] || { echo "$out" >&2; die "wrk failed ($label)"; }
    sed -n 's/^TALLY //p' <<<"$out" | grep . || { echo "$out" >&2; die "wrk printed no TALLY line ($label)"; }
    remember_cmd "wrk-$(basename "$script" .lua)" "$(qcmd "${cmd[@]}")"
}
ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }

# One wrk run against a server; prints the run's raw fields.
# run_http ID ROUND ATTEMPT KIND(post|get) TARGET(pg|sq|healthz|trivial)
run_http() {
    local id=$1 round=$2 attempt=$3 kind=$4 target=$5 name url tally pid snap0 snap1 cpu
    local status=ok reason="" store="" tag="" before="" after="" tagged="" extra=""
    case $target in
    pg | sq) name=$target store=$target ;;
    healthz) name=sq ;;
    trivial) name=trivial ;;
    esac
    pid=${dpid[$name]}
    case $kind/$target in
    post/*) url="http://127.0.0.1:${dport[$name]}/epochs" ;;
    get/healthz) url="http://127.0.0.1:${dport[$name]}/healthz" ;;
    get/trivial) url="http://127.0.0.1:${dport[$name]}/epochs" ;;
    get/*) url="http://127.0.0.1:${dport[$name]}/epochs?limit=100" ;;
    esac
    [ -n "$store" ] && checkpoint "$store"
    if [ "$kind" = post ]; then
        tag="bench-$id-r$round-a$attempt-$$"
        before=$(count_rows "$store")
    fi
    cpu_snapshot "$pid"
    snap0=$snap
    if [ "$kind" = post ]; then
        tally=$(wrk_run "$id round $round" "$url" "$here/post.lua" "$tag")
    else
        tally=$(wrk_run "$id round $round" "$url" "$here/get.lua")
    fi
    cpu_snapshot "$pid"
    snap1=$snap
    kill -0 "$pid" 2>/dev/null || { show_stderr "$name"; die "the server ($name) died during $id"; }
    local requests
    requests=$(field requests "$tally")
    cpu=$(cpu_fields "$snap0" "$snap1" "$requests")
    local errs
    errs=$(($(field err_connect "$tally") + $(field err_read "$tally") + $(field err_write "$tally") + $(field err_timeout "$tally")))
    [ "$errs" -eq 0 ] || { status=FAILED reason="socket_errors_or_timeouts=$errs"; }
    local logf="" acked err_status
    err_status=$(field err_status "$tally")
    if [ "$kind" = post ]; then
        after=$(count_settled "$store")
        tagged=$(count_rows "$store" "$tag")
    fi
    [ "$name" != trivial ] && logf=$(scan_log "$name" "$requests")
    if [ "$err_status" != 0 ]; then
        status=FAILED reason="${reason:+$reason,}status_over_399=$err_status"
    fi
    if [ -n "$logf" ] && [ "$(field log_non2xx "$logf")" != 0 ]; then
        status=FAILED reason="${reason:+$reason,}daemon_sent_non2xx=$(field log_non2xx "$logf")"
    fi
    if [ -n "$logf" ] && [ "$(field log_2xx "$logf")" -lt "$requests" ]; then
        status=FAILED reason="${reason:+$reason,}daemon_logged_$(field log_2xx "$logf")_2xx_for_${requests}_responses"
    fi
    if [ "$kind" = post ]; then
        # Every completed response was a 2xx (no status over 399 at the
        # client, none but 2xx sent by the daemon): each one acknowledged.
        acked=$((requests - err_status))
        local added=$((after - before))
        extra="s2xx=$acked rows_before=$before rows_after=$after rows_added=$added rows_tagged=$tagged tag=$tag"
        if [ "$added" != "$tagged" ]; then
            status=FAILED reason="${reason:+$reason,}rows_added_${added}_but_tagged_${tagged}"
        fi
        if [ "$tagged" -lt "$acked" ]; then
            status=FAILED reason="${reason:+$reason,}LOST:${acked}_acknowledged_but_${tagged}_stored"
        elif [ "$tagged" -gt $((acked + conns)) ]; then
            status=FAILED reason="${reason:+$reason,}EXTRA:${tagged}_stored_for_${acked}_acknowledged_over_${conns}_connections"
        fi
    fi
    extra="$extra $logf"
    echo "status=$status${reason:+ reason=$reason} server=$name kind=$kind $tally $cpu $extra"
}
# Reads a daemon's log after a run and prints fields for the run's line:
# lines in the log, lines at warning level or above (the first 5 are kept
# for the report), the access lines with a 2xx status and with any other
# (log_2xx, log_non2xx: the statuses the daemon sent) and, for
# registrations, the mean group-commit batch a request was in (the access
# log's "batch"). The daemon flushes its log every 200 ms: this waits (up to
# 5 s) until the log holds an access line for each of the MIN responses the
# client completed. The log is then emptied (the daemon appends, so
# truncating is safe); a line it was still writing is left out (only
# complete lines count).
scan_log() { # scan_log NAME [MIN]
    local name=$1 min=${2:-0} f lines problems batch ok2 other
    [ "$name" = trivial ] && return 0
    f=${ddir[$name]}/log
    [ -f "$f" ] || return 0
    for _ in $(seq 1 25); do
        [ "$(head -n "$(wc -l <"$f")" "$f" | grep -c '"msg":"request"' || true)" -ge "$min" ] && break
        sleep 0.2
    done
    # The daemon may be writing (late replies, a buffer flushed mid-line):
    # read a copy, complete lines only, and empty the file.
    cp "$f" "$work/log-$name.scan"
    : >"$f"
    lines=$(wc -l <"$work/log-$name.scan")
    head -n "$lines" "$work/log-$name.scan" >"$work/log-$name.lines"
    f=$work/log-$name.lines
    problems=$(grep -c -i -E '"level" *: *"(warn|warning|error|fatal|crit)' "$f" || true)
    grep -i -E '"level" *: *"(warn|warning|error|fatal|crit)' "$f" | head -5 >>"$work/log-$name.problems" || true
    ok2=$(grep '"msg":"request"' "$f" | grep -c -E '"status":2[0-9][0-9],' || true)
    other=$(grep '"msg":"request"' "$f" | grep -c -v -E '"status":2[0-9][0-9],' || true)
    batch=$(grep -o -E '"batch" *: *[0-9]+' "$f" | grep -o -E '[0-9]+$' |
        awk '{ s += $1; n++ } END { if (n) printf "%.1f", s / n; else print "nan" }')
    rm -f "$work/log-$name.scan" "$f"
    echo "log_lines=$lines log_problems=${problems:-0} log_2xx=${ok2:-0} log_non2xx=${other:-0} mean_batch=$batch"
}

# ---- pgbench ----
# The daemon's insert (lib/backends/postgres.c, no idempotency key) without
# its BEGIN/advisory lock/COMMIT around a batch: one autocommit INSERT per
# transaction, every value a bound parameter (-M prepared), the values a
# registration over HTTP stores (client_ip 127.0.0.1, protocol http, a
# 32-hex-digit request id, node "local", the run's tag).
insert_sql='INSERT INTO epochreg_records (epoch_us, tag, client_ip, protocol, request_id, node) VALUES (:ts, :tag, :ip, :proto, :rid, :node) RETURNING id;'
# The daemon's GET /epochs?limit=100: lib/sql.c's listing with no filter,
# newest first, the page size plus one bound as $6.
select_sql='SELECT id, epoch_us, tag, client_ip, protocol, request_id, node, idempotency_key FROM epochreg_records ORDER BY id DESC LIMIT :lim;'
if [ "$with_pg" = 1 ]; then
    { echo '\set ts :ts + 1'; echo "$insert_sql"; } >"$work/pgbench_insert.sql"
    echo "$select_sql" >"$work/pgbench_select.sql"
fi
request_id=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
[ ${#request_id} -eq 32 ] || die "could not make a request id"

run_pgbench() { # run_pgbench ID ROUND ATTEMPT insert|select CLIENTS
    local id=$1 round=$2 attempt=$3 script=$4 clients=$5 threads=2 tag out processed failed tps found p50 p99
    local status=ok reason="" extra=""
    [ "$clients" -lt 2 ] && threads=1
    tag="pgbench-$id-r$round-a$attempt-$$"
    checkpoint pg
    rm -f "$work"/pgblog*
    local cmd=("$pgbench_bin" -n -M prepared -c "$clients" -j "$threads" -T "$duration"
        -f "$work/pgbench_$script.sql" -D ts="$(date +%s%6N)" -D tag="$tag" -D ip=127.0.0.1
        -D proto=http -D rid="$request_id" -D node=local -D lim=101
        -l --log-prefix="$work/pgblog" -h 127.0.0.1 -p "$pg_port" -U postgres "$db")
    local snap0 snap1
    cpu_snapshot -
    snap0=$snap
    out=$(cd "$work" && "${cmd[@]}" 2>&1) || {
        echo "$out" >&2
        die "pgbench failed ($id, round $round)"
    }
    cpu_snapshot -
    snap1=$snap
    { echo "==== $id round $round: $(printf '%q ' "${cmd[@]}")"; echo "$out"; } >>"$wrk_log"
    remember_cmd "pgbench-$script" "$(qcmd "${cmd[@]}")"
    pgbench_counts "$out" "$id" "$round"
    if [ "$script" = insert ]; then
        found=$(count_rows pg "$tag")
        extra="rows_tagged=$found tag=$tag"
        [ "$found" -eq "$processed" ] ||
            status=FAILED reason="count:pgbench_reported_${processed}_found_${found}"
    fi
    read -r p50 p99 < <(cat "$work"/pgblog* | awk '{print $3}' | sort -n |
        awk '{a[NR]=$1} END {
            i50 = int((NR * 50 + 99) / 100); i99 = int((NR * 99 + 99) / 100);
            if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1;
            printf "%d %d\n", a[i50], a[i99] }')
    rm -f "$work"/pgblog*
    echo "status=$status${reason:+ reason=$reason} server=pg kind=pgbench-$script clients=$clients threads=$threads requests=$processed rps=$tps p50_us=$p50 p99_us=$p99 $(cpu_fields "$snap0" "$snap1" "$processed") $extra"
}

# ---- machine and versions ----
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
pg_version="" pg_settings=""
if [ "$with_pg" = 1 ]; then
    pg_version=$(psql_db -c "SELECT version()")
    pg_settings=$(psql_db -F '=' -c "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'full_page_writes', 'shared_buffers', 'max_wal_size', 'max_connections') ORDER BY name" | tr '\n' ' ')
fi
sqlite_version=$(dpkg-query -W -f='${Version}' libsqlite3-0 2>/dev/null || echo unknown)
libevent_version=$(dpkg-query -W -f='${Version}' libevent-2.1-7 2>/dev/null || echo unknown)
wrk_version=$(wrk -v 2>&1 | head -1 | awk '{print $2}' || true)
daemon_version=$("$daemon" --version 2>&1 | head -1 || true)
daemon_help=$("$daemon" --help 2>&1 | tr -s ' \n' ' ' || true)
workers_doc=$(sed -n 's/.*--workers N \(.*\) --batch-max .*/\1/p' <<<"$daemon_help")
batch_doc=$(sed -n 's/.*--batch-max N \(.*\) --store-timeout .*/\1/p' <<<"$daemon_help")
source_rev=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)
source_dirty=$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null | awk '{print $2}' | tr '\n' ' ' || true)
fs_info=$(df -PT "$work" | awk 'NR == 2 {print $1 " (" $2 ")"}')

# ---- servers for the rounds ----
[ "$with_pg" = 1 ] && start_daemon pg "$pg_uri"
start_daemon sq "$sq_uri"
mkdir -p "$work/trivial"
ddir[trivial]=$work/trivial
"$responder" 127.0.0.1 0 "$work/trivial/ports" >"$work/trivial/stdout" 2>"$work/trivial/stderr" </dev/null &
dpid[trivial]=$!
started+=("${dpid[trivial]}")
dport[trivial]=$(wait_ports_file "$work/trivial/ports" "${dpid[trivial]}" bench_trivial_responder)
responder_cmd="$(qcmd "$responder" 127.0.0.1 0 "$work/trivial/ports")"
log "trivial responder on 127.0.0.1:${dport[trivial]}, pid ${dpid[trivial]}"

# ---- sanity: one POST and one page through each daemon, then warm-up and seed ----
stores=(sq)
[ "$with_pg" = 1 ] && stores=(pg sq)
declare -A page_bytes
for s in "${stores[@]}"; do
    base="http://127.0.0.1:${dport[$s]}"
    resp=$(curl -s -w '\n%{http_code}' --max-time 10 -X POST -H 'Content-Type: application/json' \
        --data '{"tag":"bench-sanity"}' "$base/epochs") || die "curl POST failed ($s)"
    code=$(tail -1 <<<"$resp")
    [ "$code" = 201 ] || { show_stderr "$s"; die "POST /epochs on $s answered $code: $resp"; }
    grep -q '"tag":"bench-sanity"' <<<"$resp" || die "POST /epochs on $s: the record lacks the tag: $resp"
    n=0
    while :; do
        log "warm-up and seed ($s): ${warmup} s of POST"
        tag="bench-warmup-$s-$n-$$"
        before=$(count_rows "$s")
        out=$(wrk -t"$wrk_threads" -c"$conns" -d"${warmup}s" --timeout 10s -s "$here/post.lua" \
            "$base/epochs" -- "$tag" 2>&1) || { echo "$out" >&2; die "wrk warm-up failed ($s)"; }
        tally=$(sed -n 's/^TALLY //p' <<<"$out")
        [ -n "$tally" ] || { echo "$out" >&2; die "wrk printed no TALLY line (warm-up $s)"; }
        after=$(count_settled "$s")
        s2xx=$(field requests "$tally")
        logf=$(scan_log "$s" "$s2xx")
        [ "$(field err_status "$tally")" = 0 ] && [ "$(field log_non2xx "$logf")" = 0 ] ||
            { show_stderr "$s"; die "warm-up on $s: non-2xx answers: $tally $logf"; }
        if [ "$after" -lt $((before + s2xx)) ] || [ "$after" -gt $((before + s2xx + conns)) ]; then
            die "warm-up count-back FAILED on $s: $s2xx acknowledged, $((after - before)) rows added"
        fi
        n=$((n + 1))
        [ "$after" -ge "$seed_rows" ] && break
        [ "$n" -lt 30 ] || die "$s holds only $after rows after $n warm-up runs"
    done
    resp=$(curl -s -w '\n%{http_code}' --max-time 10 "$base/epochs?limit=100") || die "curl GET failed ($s)"
    code=$(tail -1 <<<"$resp")
    [ "$code" = 200 ] || die "GET /epochs?limit=100 on $s answered $code"
    items=$(head -n -1 <<<"$resp" | grep -o '"epoch_us":' | wc -l)
    [ "$items" -eq 100 ] || die "GET /epochs?limit=100 on $s returned $items records, not 100"
    page_bytes[$s]=$(head -n -1 <<<"$resp" | wc -c)
    log "$s: $after rows; a page of 100 is ${page_bytes[$s]} bytes"
done

# ---- configurations ----
# id|kind|target|label
configs=()
[ "$with_pg" = 1 ] && configs+=("post_pg|post|pg|epochregd + PostgreSQL: POST /epochs")
configs+=("post_sq|post|sq|epochregd + SQLite: POST /epochs")
[ "$with_pg" = 1 ] && configs+=("get_pg|get|pg|epochregd + PostgreSQL: GET /epochs?limit=100")
configs+=("get_sq|get|sq|epochregd + SQLite: GET /epochs?limit=100")
[ "$with_healthz" = 1 ] && configs+=("healthz|get|healthz|epochregd: GET /healthz (no store)")
configs+=("trivial|get|trivial|bare evhttp responder: GET (HTTP ceiling)")
for c in $pgb_clients; do configs+=("pgbi_c$c|pgbench|insert $c|pgbench -M prepared -c $c: 1-row INSERT per txn"); done
for c in $pgb_clients; do configs+=("pgbs_c$c|pgbench|select $c|pgbench -M prepared -c $c: SELECT 100 (+1) rows"); done

total=$((rounds * ${#configs[@]}))
log "$rounds rounds × ${#configs[@]} configurations × ${duration} s (about $((total * (duration + 3) / 60 + 1)) min), then $idle_n idle connections"
n=0
for round in $(seq 1 "$rounds"); do
    order=("${configs[@]}")
    if [ $((round % 2)) -eq 0 ]; then
        order=()
        for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[$i]}"); done
    fi
    probe=$(disk_probe)
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "round=$round config=disk_probe status=ok dsync_8k_ms=$probe loadavg1=$load" >>"$raw"
    log "round $round: disk probe $probe ms per 8 kB O_DSYNC write; load average $load"
    for c in "${order[@]}"; do
        IFS='|' read -r id kind target _label <<<"$c"
        n=$((n + 1))
        # Up to busy_retries more attempts while other processes take more
        # than max_foreign % of the CPUs; the attempt they disturbed least
        # counts, the others are kept as status=busy. A failed attempt ends
        # the loop and counts (a failure is never measured away).
        best="" best_foreign=""
        attempts=()
        for attempt in $(seq 0 "$busy_retries"); do
            if [ "$kind" = pgbench ]; then
                read -r script clients <<<"$target"
                line=$(run_pgbench "$id" "$round" "$attempt" "$script" "$clients")
            else
                line=$(run_http "$id" "$round" "$attempt" "$kind" "$target")
            fi
            foreign=$(field foreign_cpu_pct "$line")
            if [[ $line != status=ok* ]]; then
                [ -n "$best" ] && attempts+=("$best")
                best=$line best_foreign=$foreign
                break
            fi
            if [ -z "$best" ] || awk -v f="$foreign" -v b="$best_foreign" 'BEGIN { exit !(f < b) }'; then
                [ -n "$best" ] && attempts+=("$best")
                best=$line best_foreign=$foreign
            else
                attempts+=("$line")
            fi
            awk -v f="$best_foreign" -v m="$max_foreign" 'BEGIN { exit !(f > m) }' || break
            [ "$attempt" -lt "$busy_retries" ] || break
            log "[$n/$total] round $round $id: other processes took $foreign % of the CPUs (over $max_foreign %): measuring again in 10 s"
            sleep 10
        done
        for a in "${attempts[@]}"; do
            echo "round=$round config=$id status=busy ${a#status=ok }" >>"$raw"
        done
        line=$best foreign=$best_foreign
        echo "round=$round config=$id $line" >>"$raw"
        msg="[$n/$total] round $round $id: $(field rps "$line") req/s, p50 $(ms "$(field p50_us "$line")") ms, p99 $(ms "$(field p99_us "$line")") ms, other processes $foreign % of the CPUs"
        [[ $line == status=ok* ]] || msg="$msg — FAILED: $(field reason "$line")"
        log "$msg"
    done
done

# Peak memory of the long-running servers, then stop them (each must exit 0).
declare -A peak_mib
for s in "${stores[@]}" trivial; do
    peak_mib[$s]=$(awk -v k="$(hwm_kib "${dpid[$s]}")" 'BEGIN { printf "%.1f", k / 1024 }')
done
for s in "${stores[@]}"; do stop_daemon "$s"; done
kill -TERM "${dpid[trivial]}"
rc=0
wait "${dpid[trivial]}" || rc=$?
forget_pid "${dpid[trivial]}"
[ "$rc" = 0 ] || { cat "$work/trivial/stderr" >&2; die "bench_trivial_responder exited $rc"; }

# ---- idle keep-alive connections: the daemon's memory per connection ----
max_conns=12000
[ "$max_conns" -ge $((idle_n + 100)) ] || max_conns=$((idle_n + 2000))
log "idle connections: a fresh daemon (SQLite, --max-connections $max_conns), $idle_n idle keep-alive connections"
rm -f "$work/sqlite/idle.db"*
start_daemon idle "sqlite:$work/sqlite/idle.db" --max-connections "$max_conns" --idle-timeout 600
ipid=${dpid[idle]}
iport=${dport[idle]}
for _ in 1 2 3; do [ "$(http_status "http://127.0.0.1:$iport/healthz")" = 200 ] || die "/healthz failed (idle daemon)"; done
sleep 0.5
rss_before=$(rss_kib "$ipid")
fds_before=$(find "/proc/$ipid/fd" -mindepth 1 -maxdepth 1 | wc -l)
mkfifo "$work/idle.ctl"
"$idle_client" 127.0.0.1 "$iport" "$idle_n" <"$work/idle.ctl" >"$work/idle.out" 2>"$work/idle.err" &
cpid=$!
started+=("$cpid")
exec 7>"$work/idle.ctl"
t_start=$(date +%s.%N)
until grep -q '^ready' "$work/idle.out" 2>/dev/null; do
    if ! kill -0 "$cpid" 2>/dev/null; then
        cat "$work/idle.err" >&2
        show_stderr idle
        die "bench_idle_clients failed before holding $idle_n connections"
    fi
    sleep 0.1
done
t_open=$(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
sleep 1
rss_after=$(rss_kib "$ipid")
fds_after=$(find "/proc/$ipid/fd" -mindepth 1 -maxdepth 1 | wc -l)
c0=$(cpu_ticks "$ipid")
sleep 2
c1=$(cpu_ticks "$ipid")
idle_cpu_pct=$(awk -v d=$((c1 - c0)) -v hz="$clk_tck" 'BEGIN { printf "%.1f", d / hz / 2 * 100 }')
# Normal requests alongside the idle connections (context): 4 connections.
along=$(wrk -t1 -c4 -d"$((duration < 3 ? duration : 3))s" --timeout 10s -s "$here/get.lua" \
    "http://127.0.0.1:$iport/healthz" 2>&1) || { echo "$along" >&2; die "wrk alongside the idle connections failed"; }
along=$(sed -n 's/^TALLY //p' <<<"$along")
[ -n "$along" ] || die "wrk alongside the idle connections printed no TALLY line"
echo go >&7
exec 7>&-
rc=0
wait "$cpid" || rc=$?
forget_pid "$cpid"
[ "$rc" = 0 ] || { cat "$work/idle.err" >&2; die "bench_idle_clients exited $rc"; }
idle_check=$(sed -n 's/^open=/open=/p' "$work/idle.out")
[ -n "$idle_check" ] || die "bench_idle_clients printed no open/closed count"
sleep 2
rss_closed=$(rss_kib "$ipid")
stop_daemon idle
idle_open=$(field open "$idle_check")
idle_closed=$(field closed "$idle_check")
growth_kib=$((rss_after - rss_before))
idle_status=ok
[ "$idle_closed" = 0 ] && [ "$(field unexpected "$idle_check")" = 0 ] || idle_status=FAILED
[ "$(field err_status "$along")" = 0 ] && [ "$(field err_connect "$along")" = 0 ] &&
    [ "$(field err_read "$along")" = 0 ] || idle_status=FAILED
echo "round=- config=idle status=$idle_status connections=$idle_n open_s=$t_open rss_before_kib=$rss_before rss_after_kib=$rss_after rss_growth_kib=$growth_kib rss_after_close_kib=$rss_closed fds_before=$fds_before fds_after=$fds_after idle_cpu_pct=$idle_cpu_pct $idle_check alongside_${along// / alongside_}" >>"$raw"
log "idle: RSS $rss_before -> $rss_after KiB for $idle_n connections ($idle_check)"

# ---- the report ----
values() { # values ID FIELD -> one value per good run, in round order
    grep " config=$1 status=ok " "$raw" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
round_value() { # round_value ID FIELD ROUND
    grep "^round=$3 config=$1 status=ok " "$raw" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
med1() { # med1 ID FIELD -> the median with one decimal
    values "$1" "$2" | median | awk '{ if ($1 == "nan") print "n/a"; else printf "%.1f", $1 }'
}
fmt_int() { awk -v x="$1" 'BEGIN { if (x == "nan" || x == "") print "n/a"; else printf "%.0f", x }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "nan" && b != "nan" && b > 0) printf "%.2f", a / b; else print "n/a" }'; }
med_ms() { # med_ms ID FIELD(us) -> median in ms
    local m
    m=$(values "$1" "$2" | median)
    awk -v m="$m" 'BEGIN { if (m == "nan") print "n/a"; else printf "%.2f", m / 1000 }'
}
declare -A med
for c in "${configs[@]}"; do
    IFS='|' read -r id _ <<<"$c"
    med[$id]=$(values "$id" rps | median)
done
best_of() { # best_of PREFIX -> "id rate" of the best median rate among PREFIX_c*
    local best="" rate=-1 c
    for c in $pgb_clients; do
        if awk -v a="${med[${1}_c$c]}" -v b="$rate" 'BEGIN { exit !(a != "nan" && a > b) }'; then
            best=${1}_c$c rate=${med[${1}_c$c]}
        fi
    done
    echo "${best:-none} $rate"
}
paired_best_ratio() { # paired_best_ratio ID PREFIX: median over rounds of ID / best PREFIX of that round
    local r c v best
    for r in $(seq 1 "$rounds"); do
        best=0
        for c in $pgb_clients; do
            v=$(round_value "${2}_c$c" rps "$r")
            [ -n "$v" ] && best=$(awk -v a="$v" -v b="$best" 'BEGIN { print (a > b) ? a : b }')
        done
        v=$(round_value "$1" rps "$r")
        [ -n "$v" ] && awk -v a="$v" -v b="$best" 'BEGIN { if (b > 0) printf "%.4f\n", a / b }'
    done | median
}
paired_ratio() { # paired_ratio A B: median over rounds of A / B in the same round
    local r
    for r in $(seq 1 "$rounds"); do
        awk -v a="$(round_value "$1" rps "$r")" -v b="$(round_value "$2" rps "$r")" \
            'BEGIN { if (a != "" && b > 0) printf "%.4f\n", a / b }'
    done | median
}
verdict() { # verdict VALUE OP LIMIT -> PASS / MISS / n/a
    awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
        if (v == "n/a" || v == "nan" || v == "") { print "n/a"; exit }
        ok = (op == ">=") ? (v + 0 >= l + 0) : (v + 0 <= l + 0); print ok ? "PASS" : "MISS" }'
}
failed_runs=$(grep -v -E '^round=[^ ]+ config=[^ ]+ status=(ok|busy) ' "$raw" || true)
targets=()
target_line() { # target_line NAME VALUE OP LIMIT NOTE
    local v
    v=$(verdict "$2" "$3" "$4")
    targets+=("$v|$1|$2|$3 $4|$5")
}
if [ "$with_pg" = 1 ]; then
    read -r best_ins best_ins_rate <<<"$(best_of pgbi)"
    read -r best_sel best_sel_rate <<<"$(best_of pgbs)"
    target_line "POST-PG / pgbench 1-row INSERT best (${best_ins#pgbi_c} clients)" \
        "$(ratio "${med[post_pg]}" "$best_ins_rate")" ">=" 2.0 \
        "per-round paired: $(printf '%.2f' "$(paired_best_ratio post_pg pgbi)")"
    target_line "POST-PG p99 at $conns connections, ms" "$(med_ms post_pg p99_us)" "<=" 10 \
        "p50 $(med_ms post_pg p50_us) ms"
    target_line "GET-PG / pgbench SELECT-100 best (${best_sel#pgbs_c} clients)" \
        "$(ratio "${med[get_pg]}" "$best_sel_rate")" ">=" 0.55 \
        "per-round paired: $(printf '%.2f' "$(paired_best_ratio get_pg pgbs)")"
    target_line "POST-SQLite / POST-PG" "$(ratio "${med[post_sq]}" "${med[post_pg]}")" ">=" 1.0 \
        "per-round paired: $(printf '%.2f' "$(paired_ratio post_sq post_pg)")"
fi
target_line "idle connections: RSS growth for $idle_n, MiB" \
    "$(awk -v k="$growth_kib" 'BEGIN { printf "%.1f", k / 1024 }')" "<=" \
    "$(awk -v n="$idle_n" 'BEGIN { printf "%.1f", 80 * n / 10000 }')" \
    "$(awk -v k="$growth_kib" -v n="$idle_n" 'BEGIN { printf "%.2f KiB per connection (80 MiB per 10 000, about 8 KiB each)", k / n }')"

{
    echo "## epochregd HTTP benchmark$([ "$smoke" = 1 ] && echo ' (SMOKE MODE: no figure is meaningful)')"
    echo
    echo "- Command: \`$(printf 'BENCH_ROUNDS=%s BENCH_SECONDS=%s BENCH_CONNECTIONS=%s BENCH_IDLE_CONNS=%s BENCH_SMOKE=%s ' "$rounds" "$duration" "$conns" "$idle_n" "$smoke")$command_line\`"
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M:%S UTC') (started $stamp)"
    echo "- Machine: $(nproc) CPUs (nproc), $cpu_model; $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo); kernel $(uname -r); wrk, pgbench, the servers and PostgreSQL all share these CPUs"
    echo "- Disk: $fs_info; one 8 kB O_DSYNC write (dd): median $(values disk_probe dsync_8k_ms | median) ms over the round probes"
    echo "- Load: 1-minute load average at the start of each round: $(values disk_probe loadavg1 | tr '\n' ' ')(this benchmark alone keeps it near 2; more means other tenants shared the CPUs)"
    if [ "$with_pg" = 1 ]; then
        echo "- PostgreSQL: $pg_version; $pg_settings"
    fi
    echo "- SQLite $sqlite_version (WAL, synchronous=FULL, as the library sets); libevent $libevent_version; wrk $wrk_version"
    echo "- Source: commit $source_rev${source_dirty:+, with uncommitted changes to: $source_dirty}"
    echo "- epochregd: \`$daemon_version\`, build type ${build_type:-unknown}${sanitized:+, EPOCHREG_SANITIZE=$sanitized}; options: ${daemon_opts[*]:-none beyond the listener, files and store, so --workers and --batch-max are the defaults}; its --help: --workers \"${workers_doc:-?}\", --batch-max \"${batch_doc:-?}\"; EPOCHREG_* variables of the caller's environment are not passed on"
    echo "- Method: $rounds rounds × $duration s per configuration, alternating forward/reverse order; each daemon started once and warmed up by ${warmup} s of POST (which also seeds ≥ $seed_rows rows; GET reads a table that grows through the run, the page is always the newest 100); store checkpointed before every run. Figures are medians over rounds; p50/p99 are per request (wrk) or per transaction (pgbench). wrk: \`-t$wrk_threads -c$conns --latency --timeout 10s\`; pgbench: \`-M prepared -j 2\` (-j 1 at 1 client). POST bodies are \`{\"tag\":\"<run tag>\"}\` with Content-Type application/json; pgbench inserts the same columns with the same kind of values."
    echo "- Count-back (every POST run): rows added = rows with the run's tag, and 2xx ≤ rows added ≤ 2xx + $conns; no non-2xx and no socket error; pgbench: rows with the tag = transactions reported. Failed runs are left out of the medians and listed below."
    echo
    echo "| configuration | median req/s | min–max req/s | p50 ms | p99 ms | server CPU µs/req | PostgreSQL CPU µs/req | wrk CPU µs/req | other processes' CPU % | mean batch | of HTTP ceiling |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for c in "${configs[@]}"; do
        IFS='|' read -r id kind _ label <<<"$c"
        [ "$kind" = pgbench ] && continue
        mn=$(values "$id" rps | sort -g | head -1)
        mx=$(values "$id" rps | sort -g | tail -1)
        batch=—
        [ "$kind" = post ] && batch=$(values "$id" mean_batch | median | awk '{ if ($1 == "nan") print "n/a"; else printf "%.1f", $1 }')
        pgcpu=—
        [ "$id" = post_pg ] || [ "$id" = get_pg ] && pgcpu=$(med1 "$id" pg_cpu_us_per_req)
        echo "| $label | $(fmt_int "${med[$id]}") | $(fmt_int "$mn")–$(fmt_int "$mx") | $(med_ms "$id" p50_us) | $(med_ms "$id" p99_us) | $(med1 "$id" server_cpu_us_per_req) | $pgcpu | $(med1 "$id" client_cpu_us_per_req) | $(med1 "$id" foreign_cpu_pct) | $batch | $(ratio "${med[$id]}" "${med[trivial]}") |"
    done
    echo
    echo "CPU per completed request, from /proc over the run: the server process (all its threads), our PostgreSQL (postmaster and backends), and the client (wrk, pgbench). Other processes' CPU: the share of both CPUs used by anything else during the run (other tenants of this machine), median over rounds; a run above ${max_foreign} % was measured again (up to $busy_retries times; $(grep -c ' status=busy ' "$raw" || true) repeats in this run) and the least disturbed attempt counts. Mean batch: the group-commit batch a registration was written in, averaged over the run's requests (the daemon's access log)."
    echo
    echo "Count-back of every POST run (2xx: the responses wrk completed, with none over 399 counted by wrk and none but 2xx in the daemon's access log for the run; non-2xx: the access log's other statuses; rows counted in the store before and after, and by the run's tag):"
    echo
    echo "| round | configuration | completed | 2xx | non-2xx | rows added | rows with the tag | unacknowledged but stored (≤ $conns) | count-back |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---|"
    grep -E ' kind=(post|pgbench-insert) ' "$raw" | while read -r line; do
        r=$(field round "$line")
        id=$(field config "$line")
        st=$(field status "$line")
        case $st in
        ok) st=held ;;
        busy) st="held (run repeated: the machine was busy)" ;;
        *) st="**FAILED** ($(field reason "$line"))" ;;
        esac
        if [[ $line == *" kind=post "* ]]; then
            echo "| $r | $id | $(field requests "$line") | $(field s2xx "$line") | $(field log_non2xx "$line") | $(field rows_added "$line") | $(field rows_tagged "$line") | $(($(field rows_tagged "$line") - $(field s2xx "$line"))) | $st |"
        else
            echo "| $r | $id (pgbench) | $(field requests "$line") | — | — | — | $(field rows_tagged "$line") | $(($(field rows_tagged "$line") - $(field requests "$line"))) | $st |"
        fi
    done
    if [ "$with_pg" = 1 ]; then
        echo
        echo "pgbench against the same server and table (the database's own references; best in **bold**):"
        echo
        echo "| pgbench -M prepared | clients | median txn/s | min–max | p50 ms | p99 ms | PostgreSQL CPU µs/txn | pgbench CPU µs/txn | other processes' CPU % |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        for c in "${configs[@]}"; do
            IFS='|' read -r id kind target _ <<<"$c"
            [ "$kind" = pgbench ] || continue
            read -r script clients <<<"$target"
            mn=$(values "$id" rps | sort -g | head -1)
            mx=$(values "$id" rps | sort -g | tail -1)
            rate=$(fmt_int "${med[$id]}")
            [ "$id" = "$best_ins" ] || [ "$id" = "$best_sel" ] && rate="**$rate**"
            echo "| $([ "$script" = insert ] && echo '1-row INSERT per txn' || echo 'SELECT … ORDER BY id DESC LIMIT 101') | $clients | $rate | $(fmt_int "$mn")–$(fmt_int "$mx") | $(med_ms "$id" p50_us) | $(med_ms "$id" p99_us) | $(med1 "$id" pg_cpu_us_per_req) | $(med1 "$id" client_cpu_us_per_req) | $(med1 "$id" foreign_cpu_pct) |"
        done
    fi
    echo
    echo "Idle keep-alive connections (fresh daemon on SQLite, \`--max-connections $max_conns --idle-timeout 600\`; each connection sent one GET /healthz, then stayed idle):"
    echo
    echo "| connections | opened in | RSS before | RSS with them open | growth | per connection | RSS 2 s after they closed | fds before → after | daemon CPU while idle | still open at the end | alongside: 4 conns GET /healthz |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
    echo "| $idle_n | ${t_open} s | $(awk -v k="$rss_before" 'BEGIN { printf "%.1f MiB", k / 1024 }') | $(awk -v k="$rss_after" 'BEGIN { printf "%.1f MiB", k / 1024 }') | $(awk -v k="$growth_kib" 'BEGIN { printf "%.1f MiB", k / 1024 }') | $(awk -v k="$growth_kib" -v n="$idle_n" 'BEGIN { printf "%.2f KiB", k / n }') | $(awk -v k="$rss_closed" 'BEGIN { printf "%.1f MiB", k / 1024 }') | $fds_before → $fds_after | ${idle_cpu_pct} % of a core | $idle_open open, $idle_closed closed | $(fmt_int "$(field rps "$along")") req/s, p99 $(ms "$(field p99_us "$along")") ms |"
    echo
    echo "Peak RSS (VmHWM) of the long-running servers: $(for s in "${stores[@]}" trivial; do printf '%s %s MiB; ' "$s" "${peak_mib[$s]}"; done)"
    echo
    echo "### Targets"
    echo
    echo "| verdict | figure | value | target | note |"
    echo "|---|---|---:|---|---|"
    for t in "${targets[@]}"; do
        IFS='|' read -r v name value tgt note <<<"$t"
        echo "| **$v** | $name | $value | $tgt | $note |"
    done
    echo
    echo "HTTP ceiling: the bare evhttp responder at $(fmt_int "${med[trivial]}") req/s; daemon as a fraction of it: $(
        for id in post_pg post_sq get_pg get_sq healthz; do
            [ -n "${med[$id]:-}" ] && printf '%s %s; ' "$id" "$(ratio "${med[$id]}" "${med[trivial]}")"
        done)"
    echo
    noisy=""
    for c in "${configs[@]}"; do
        IFS='|' read -r id _ <<<"$c"
        spread=$(values "$id" rps | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {if (lo > 0) printf "%.1f", hi / lo}')
        if [ -n "$spread" ] && awk -v s="$spread" 'BEGIN { exit !(s > 1.5) }'; then noisy="$noisy $id (${spread}×)"; fi
    done
    if [ -n "$noisy" ]; then
        echo "**Noise warning:** max/min req/s over the rounds exceeded 1.5× for:$noisy."
    else
        echo "Noise: max/min req/s over the rounds stayed within 1.5× for every configuration."
    fi
    echo
    if [ -s "$work/log-pg.problems" ] || [ -s "$work/log-sq.problems" ]; then
        echo "Daemon log lines at warning level or above (first 5 per run):"
        echo
        echo '```'
        cat "$work"/log-*.problems 2>/dev/null | head -40
        echo '```'
        echo
    fi
    if [ -n "$failed_runs" ]; then
        echo "**FAILED runs (left out of every figure):**"
        echo
        echo '```'
        echo "$failed_runs"
        echo '```'
        echo
    fi
    echo "Exact command lines (the first run of each kind; ports and tags differ per run):"
    echo
    echo '```'
    for s in "${stores[@]}"; do echo "${daemon_cmd[$s]}"; done
    echo "${daemon_cmd[idle]}"
    echo "$responder_cmd"
    cat "$work"/cmd-* 2>/dev/null | sort
    echo "$idle_client 127.0.0.1 <port> $idle_n"
    echo '```'
    echo
    if [ "$with_pg" = 1 ]; then
        echo "pgbench scripts:"
        echo
        echo '```'
        echo "-- insert:"
        cat "$work/pgbench_insert.sql"
        echo "-- select:"
        cat "$work/pgbench_select.sql"
        echo '```'
        echo
    fi
    echo "Raw results (one line per run): \`$raw\`; wrk and pgbench output: \`$wrk_log\`"
    echo
    echo '```'
    cat "$raw"
    echo '```'
} | tee "$report"

for t in "${targets[@]}"; do
    IFS='|' read -r v name value tgt _ <<<"$t"
    [ "$smoke" = 1 ] && v="($v, smoke)"
    echo "$v  $name = $value (target $tgt)"
done
log "report: $report"
if [ -n "$failed_runs" ] || [ "$idle_status" != ok ]; then
    die "some runs FAILED (count-back, non-2xx answers, socket errors or closed idle connections): see the report"
fi
