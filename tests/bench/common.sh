# Sourced by the benchmark scripts (tests/bench/run.sh, tests/bench/http/run.sh);
# needs their die() and $work.

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
