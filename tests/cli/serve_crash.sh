#!/bin/sh
# Restart after SIGKILL. Bugs it is for: a cache file the write-behind
# reported as written is lost, half-written or not found by the next
# server's index after a crash (no fsync/rename, or an index that skips
# it); a restored cache whose K/V differ from the computed ones (the answer
# changes); a save that is never accounted while the server is idle (the
# poll on cache_saves_total below then never ends).
set -u
. tests/serve_lib.sh
. tests/robust_lib.sh
fail=0
bad() { echo "FAIL $*"; fail=1; }
N=4
start_server --cache-dir "$TMP/cache"
i=0
while [ $i -lt $N ]; do
    ctx=$(node -e "console.log('Agent $i remembers: ' + 'a long story about item $i, '.repeat(20 + $i * 7))")
    echo "$ctx" >"$TMP/ctx$i"
    [ "$(chat "crash-$i" "$ctx" 12 "$TMP/a$i.json")" = 200 ] || bad "first request of agent $i"
    i=$((i + 1))
done
# The write-behind has finished when every save is accounted and every
# agent reports its file.
saved() {
    [ "$(metric agentmem_cache_saves_total)" -ge $N ] 2>/dev/null || return 1
    k=0
    while [ $k -lt $N ]; do
        curl -s -o "$TMP/ag.json" "$URL/v1/agents/crash-$k"
        [ "$(jget "$TMP/ag.json" 'j.bytes_disk > 0')" = true ] || return 1
        k=$((k + 1))
    done
}
wait_until 10 saved || bad "write-behind not finished after 10 s (saves $(metric agentmem_cache_saves_total))"
kill -9 $PID
wait $PID 2>/dev/null
start_server --cache-dir "$TMP/cache"
[ "$(tmp_files "$TMP/cache")" = 0 ] || bad "temp files left after start-up"
i=0
while [ $i -lt $N ]; do
    [ "$(chat "crash-$i" "$(cat "$TMP/ctx$i")" 12 "$TMP/b$i.json")" = 200 ] || bad "request of agent $i after restart"
    node -e '
const a = require(process.argv[1]), b = require(process.argv[2]);
const p = b.usage.prompt_tokens, c = b.usage.prompt_tokens_details.cached_tokens;
if (c < p - 1) { console.log(`FAIL agent ${process.argv[3]} after SIGKILL: cached ${c} of ${p} prompt tokens`); process.exit(1); }
if (a.choices[0].message.content !== b.choices[0].message.content) {
  console.log(`FAIL agent ${process.argv[3]}: answer changed after SIGKILL`); process.exit(1); }
' "$TMP/a$i.json" "$TMP/b$i.json" $i || fail=1
    i=$((i + 1))
done
[ "$(metric agentmem_cache_restores_total)" -ge $N ] || bad "restores counted"
stop_server
"$A" cache verify --cache-dir "$TMP/cache" >"$TMP/v.txt" || { bad "cache verify"; cat "$TMP/v.txt"; }
exit $fail
