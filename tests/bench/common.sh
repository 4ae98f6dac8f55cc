# Sourced by the benchmark scripts (tests/bench/run.sh, tests/bench/http/run.sh,
# tests/bench/cgi/run.sh); needs their die() and $work.

# field NAME LINE: the value of NAME=... in a "key=value ..." LINE; dies when
# it is not there.
field() {
    local v
    v=$(tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p" | head -1)
    [ -n "$v" ] || die "no $1 in: $2"
    echo "$v"
}

# median: numbers on stdin -> their median (three decimals), "nan" for none.
median() {
    sort -g | awk '{a[NR] = $1} END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) printf "%.3f\n", a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# disk_probe: ms per synchronous 8 kB write on the benchmark's disk (dd, 200
# writes into "$work").
disk_probe() {
    local out secs
    out=$(dd if=/dev/zero of="$work/dsync.test" bs=8k count=200 oflag=dsync 2>&1 | tail -1)
    rm -f "$work/dsync.test"
    secs=$(sed -n 's/.* copied, \([0-9.e-]*\) s.*/\1/p' <<<"$out")
    [ -n "$secs" ] || die "dd probe output not understood: $out"
    awk -v s="$secs" 'BEGIN { printf "%.3f", s / 200 * 1000 }'
}

# pgbench_counts OUTPUT ID ROUND: sets processed, failed and tps from a
# pgbench run's output; dies when it is not understood or a transaction failed.
pgbench_counts() {
    processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$1")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$1")
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' <<<"$1")
    if [ -z "$processed" ] || [ -z "$tps" ] || [ "${failed:-0}" != 0 ]; then
        echo "$1" >&2
        die "pgbench output not understood or transactions failed ($2, round $3)"
    fi
}
