#!/bin/bash
# Builds the libFuzzer executable and runs each fuzz target for a bounded time (docs/fuzzing.md).
#   Fuzz/run.sh [target ...]        default: every target
# Environment: FUZZ_SECONDS (per target, default 60), FUZZ_RSS_MB (default 2048), FUZZ_JOBS (targets run at once,
# default 1), FUZZ_SKIP_BUILD=1 to reuse the last build. New inputs go to .build-fuzz/corpus/<target> (the
# committed seeds in Fuzz/corpus/<target> are read, never written); crashes to .build-fuzz/findings/<target>/.
# Exits non-zero if any target found something.
set -u
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
SECONDS_PER=${FUZZ_SECONDS:-60}
RSS=${FUZZ_RSS_MB:-2048}
JOBS=${FUZZ_JOBS:-1}
SCRATCH=.build-fuzz
ALL="remote-write-v1 remote-write-v2 snappy text-exposition influx otlp-json otlp-protobuf graphite statsd promql http-params config model-file wal chunk"
TARGETS=${*:-$ALL}

if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
    echo "building VigilFuzz (-sanitize=fuzzer,address) in $SCRATCH ..."
    VIGIL_FUZZ=1 $SWIFT build -c debug --scratch-path "$SCRATCH" --product VigilFuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library 2>&1 | grep -E "error|warning: unre|Build|Compiling VigilFuzz" || true
fi
BIN=$SCRATCH/debug/VigilFuzz
[ -x "$BIN" ] || { echo "no $BIN: the build failed" >&2; exit 2; }

# Swift's runtime keeps metadata caches alive to exit; LeakSanitizer would report them, so leaks are not checked.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}
# Swift's crash backtracer reads the crashed process's memory, which ASan reports (and then it hangs): libFuzzer
# prints the stack itself.
export SWIFT_BACKTRACE=enable=no

run_one() {
    local t=$1
    local work=$SCRATCH/corpus/$t findings=$SCRATCH/findings/$t log=$SCRATCH/logs/$t.log
    rm -rf "$findings"
    mkdir -p "$work" "$findings" "$(dirname "$log")" "Fuzz/corpus/$t"
    VIGIL_FUZZ_TARGET=$t "$BIN" "$work" "Fuzz/corpus/$t" \
        -max_total_time="$SECONDS_PER" -rss_limit_mb="$RSS" -malloc_limit_mb="$RSS" -timeout=20 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$findings/" >"$log" 2>&1
    local rc=$?
    local execs corp found
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}')
    corp=$(grep -oE 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1 | awk '{print $2}')
    found=$(ls "$findings" 2>/dev/null | wc -l)
    printf '%-16s %5ss  execs %-10s corpus %-12s findings %s  (rc %s, log %s)\n' \
        "$t" "$SECONDS_PER" "${execs:-?}" "${corp:-?}" "$found" "$rc" "$log"
    if [ "$rc" != 0 ]; then
        grep -E 'ERROR: |Fatal error|fuzz finding|SUMMARY' "$log" | head -5 | sed 's/^/    /'
        ls "$findings" | sed "s|^|    $findings/|"
    fi
    return $rc
}

status=0
running=0
for t in $TARGETS; do
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || status=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || status=1
    running=$((running - 1))
done
[ $status = 0 ] && echo "fuzz: no findings" || echo "fuzz: FINDINGS (see above)"
exit $status
