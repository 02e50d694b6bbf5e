#!/bin/sh
# Runs the whole suite from the repository root: every unit test binary, then
# every tests/cli/*.sh script (command-line and golden checks). Prints one line
# per test and a summary; exits 1 if anything failed.
BUILD=${BUILD:-build}
export AGENTMEM="$BUILD/agentmem"
export AM_BUILD="$BUILD"
pass=0; fail=0; failed=""
for t in $(find "$BUILD/tests" -type f -perm -u+x -name 'test_*' | sort); do
    start=$(date +%s)
    if "$t" > "$t.log" 2>&1; then
        pass=$((pass + 1)); echo "PASS $t ($(( $(date +%s) - start ))s)"
    else
        fail=$((fail + 1)); failed="$failed $t"; echo "FAIL $t"; tail -n 30 "$t.log"
    fi
done
for s in $(find tests/cli -name '*.sh' 2>/dev/null | sort); do
    log="$BUILD/tests/$(basename "$s").log"
    mkdir -p "$BUILD/tests"
    if sh "$s" > "$log" 2>&1; then
        pass=$((pass + 1)); echo "PASS $s"
    else
        fail=$((fail + 1)); failed="$failed $s"; echo "FAIL $s"; tail -n 30 "$log"
    fi
done
echo "$pass passed, $fail failed"
[ "$fail" = 0 ] || { echo "failed:$failed"; exit 1; }
