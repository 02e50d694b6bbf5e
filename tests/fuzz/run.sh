#!/bin/sh
# Runs each libFuzzer target of $BUILD/fuzz/ (default build-fuzz) for
# $FUZZ_SECONDS (default 60), one after the other, one process each (the
# machine is shared: no -jobs/-workers). Arguments pick targets (gguf model
# ...); none means all. New interesting inputs go to $BUILD/corpus/<target>/
# (kept between runs, not committed); the committed seeds and reproducers of
# tests/fuzz/corpus/<target>/ are read, never written. A crash, leak,
# sanitizer report, timeout or out-of-memory leaves its input in
# $BUILD/artifacts/ and makes the script exit 1 after the remaining targets
# ran. To keep a finding as a regression input: fix the bug, then copy the
# artifact to tests/fuzz/corpus/<target>/crash-<what>.
BUILD=${BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
targets="$*"
[ -n "$targets" ] || targets=$(ls "$BUILD"/fuzz/ | sed -n 's/^fuzz_//p')
mkdir -p "$BUILD/artifacts"
failed=""
for t in $targets; do
    bin="$BUILD/fuzz/fuzz_$t"
    [ -x "$bin" ] || { echo "no fuzzer $bin"; failed="$failed $t"; continue; }
    mkdir -p "$BUILD/corpus/$t"
    dict=""
    [ -f "tests/fuzz/dict/$t.dict" ] && dict="-dict=tests/fuzz/dict/$t.dict"
    echo "== fuzz $t for ${SECONDS_EACH}s"
    # -malloc_limit_mb: no single allocation may exceed what any seed-sized
    # input justifies; a parser that allocates what a header claims fails here.
    if "$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
        -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t-" $dict \
        "$BUILD/corpus/$t" "tests/fuzz/corpus/$t" > "$BUILD/fuzz-$t.log" 2>&1; then
        grep -E '^stat::number_of_executed_units|^stat::new_units_added|^stat::peak_rss_mb' "$BUILD/fuzz-$t.log"
    else
        failed="$failed $t"
        echo "FAIL fuzz $t (log $BUILD/fuzz-$t.log):"
        grep -E 'ERROR|SUMMARY|invariant|Test unit written' "$BUILD/fuzz-$t.log" | head -20
    fi
done
[ -z "$failed" ] || { echo "fuzzers with findings:$failed"; exit 1; }
