#!/bin/sh
# A whole save goes temp -> fsync(temp) -> rename(temp, final) -> fsync(dir),
# and the final path is never opened for writing with O_TRUNC.
set -u
H=${AM_BUILD:-build}/tests/kvcache/test_cachefile
command -v strace > /dev/null 2>&1 || { echo "SKIP: no strace"; exit 0; }
D=$(mktemp -d /tmp/am_cache_strace.XXXXXX)
trap 'rm -rf "$D"' EXIT
F="$D/agent.amkv"
# LeakSanitizer cannot run under ptrace; leaks are checked by the unit tests.
if ! ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" AM_KVF_WHOLE_ONLY=1 strace -f -o "$D/trace" -e trace=openat,fsync,fdatasync,rename,renameat,renameat2,write \
    "$H" --write "$F" > /dev/null 2>&1; then
    if ! strace -o /dev/null true > /dev/null 2>&1; then echo "SKIP: strace cannot trace here"; exit 0; fi
    echo "helper under strace failed"; cat "$D/trace"; exit 1
fi
awk -v F="$F" '
    # openat(AT_FDCWD, "<F>.tmp.N.M", O_WRONLY|O_CREAT|O_EXCL...) = FD
    /openat\(/ && index($0, "\"" F ".tmp.") && /O_CREAT/ { n = split($0, p, "= "); tmpfd = p[n] + 0; st = (st == 0 ? 1 : st); next }
    /openat\(/ && index($0, "\"" F "\"") && /O_TRUNC/ { print "final path opened with O_TRUNC: " $0; bad = 1 }
    /fsync\(|fdatasync\(/ { match($0, /(fsync|fdatasync)\([0-9]+/); fd = substr($0, RSTART, RLENGTH); sub(/.*\(/, "", fd); fd += 0
        if (st == 1 && fd == tmpfd) st = 2
        else if (st == 3) st = 4
        next }
    /rename/ && index($0, F ".tmp.") && index($0, "\"" F "\"") { if (st == 2) st = 3; else { print "rename before fsync(temp)"; bad = 1 } }
    END { if (st != 4) { print "order incomplete, reached step " st; bad = 1 } exit bad }
' "$D/trace" || { cat "$D/trace"; exit 1; }
exit 0
