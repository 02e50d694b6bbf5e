#!/bin/sh
# SIGKILL at random moments while serving and writing caches, KILL_ITER
# times (default 8, seeded by KILL_SEED). Bugs it is for: a torn or
# half-renamed cache file that the next server refuses to start on, crashes
# on, or accepts; temp files of killed writes never swept; a file that
# `cache verify` rejects although the server kept it; an agent whose file
# was cut by the kill that cannot be served any more. Checks, each round:
# the server starts and is alive until killed, no *.amkv.tmp.* after
# start-up, `cache verify` exits 0 on every file left; at the end every
# agent's next request is answered (warm or recomputed).
set -u
. tests/serve_lib.sh
. tests/robust_lib.sh
fail=0
bad() { echo "FAIL $*"; fail=1; }
ITER=${KILL_ITER:-8}
SEED=${KILL_SEED:-1}
N=8
C="$TMP/cache"
r=0
in_write=0
while [ $r -lt $ITER ]; do
    start_server --cache-dir "$C" --ctx 4096
    [ "$(tmp_files "$C")" = 0 ] || bad "round $r: temp files left after start-up: $(find "$C" -name '*.tmp*')"
    "$A" cache verify --cache-dir "$C" >"$TMP/v.txt" || { bad "round $r: cache verify"; cat "$TMP/v.txt"; }
    ROUND=$r N_AGENTS=$N AGENTMEM_URL=$URL node tests/clients/crashload.mjs >/dev/null 2>&1 &
    LOAD=$!
    ms=$(awk -v s=$((SEED * 1000 + r)) 'BEGIN { srand(s); printf "%d", 800 + rand() * 1700 }')
    sleep "$(awk -v m=$ms 'BEGIN { printf "%.3f", m / 1000 }')"
    kill -0 $PID 2>/dev/null || { bad "round $r: the server died under load"; tail -n 20 "$LOG"; }
    w=$(curl -s -m 2 "$URL/metrics" | awk '$1 == "agentmem_cache_saves_total" { print $2 }')
    if [ $((r % 2)) = 1 ]; then
        # odd rounds: SIGKILL the moment a new cache file's temp file
        # appears (inotify), i.e. in the middle of its write; 1 s at most
        node -e '
const fs = require("fs"), [dir, pid] = process.argv.slice(1);
const kill = () => { try { process.kill(+pid, "SIGKILL"); } catch {} process.exit(0); };
// cache files live in one subdirectory per model fingerprint
fs.watch(dir, { recursive: true }, (ev, name) => { if (name && name.includes(".amkv.tmp.")) kill(); });
setTimeout(kill, 1000);' "$C" $PID
    fi
    inw=$(tmp_files "$C")
    kill -9 $PID 2>/dev/null
    wait $PID 2>/dev/null
    kill $LOAD 2>/dev/null
    wait $LOAD 2>/dev/null
    echo "round $r: killed after $ms ms, $w saves, $(find "$C" -name '*.amkv' | wc -l) files, $inw being written"
    [ "$inw" = 0 ] || in_write=$((in_write + 1))
    r=$((r + 1))
done
start_server --cache-dir "$C" --ctx 4096
[ "$(tmp_files "$C")" = 0 ] || bad "temp files left after the last start-up"
"$A" cache verify --cache-dir "$C" >"$TMP/v.txt" || { bad "final cache verify"; cat "$TMP/v.txt"; }
i=0
while [ $i -lt $N ]; do
    [ "$(chat "kill-$i" "Agent $i keeps a log: entry 0; and then?" 4 "$TMP/n$i.json")" = 200 ] || bad "agent $i not served after the kills"
    i=$((i + 1))
done
stop_server
echo "$in_write of $ITER kills came while a new cache file was being written"
exit $fail
