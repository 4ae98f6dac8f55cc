# Sourced by the benchmark scripts (tests/bench/run.sh, tests/bench/http/run.sh).
# disk_probe: ms per synchronous 8 kB write on the benchmark's disk (dd, 200
# writes into "$work"); needs $work and die().
disk_probe() {
    local out secs
    out=$(dd if=/dev/zero of="$work/dsync.test" bs=8k count=200 oflag=dsync 2>&1 | tail -1)
    rm -f "$work/dsync.test"
    secs=$(sed -n 's/.* copied, \([0-9.e-]*\) s.*/\1/p' <<<"$out")
    [ -n "$secs" ] || die "dd probe output not understood: $out"
    awk -v s="$secs" 'BEGIN { printf "%.3f", s / 200 * 1000 }'
}
