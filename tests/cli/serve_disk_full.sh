#!/bin/sh
# Full disk while serving: the cache dir is a 6 MiB tmpfs, mostly taken by
# a filler file, and agents keep writing to it. Bugs it is for: a failed
# save that fails the request or kills the server; a failure not counted or
# not logged; a temp file left behind by a failed write; a file cut short
# by ENOSPC (a new file or an append) that a later server accepts and
# serves wrong K/V from. Checks: every request 200, save failures counted
# and logged, no temp file, SIGTERM exit 0; after freeing space,
# `cache verify` passes on every file left and a restarted server answers
# every agent exactly as before (temperature 0). Needs root (mount); skips
# with a message otherwise.
set -u
. tests/serve_lib.sh
. tests/robust_lib.sh
D="$TMP/disk"
mkdir -p "$D"
if ! mount -t tmpfs -o size=6m tmpfs "$D" 2>/dev/null; then
    echo "SKIP: cannot mount a tmpfs (needs root)"; exit 0
fi
trap 'kill -9 $PID 2>/dev/null; wait $PID 2>/dev/null; umount "$D"; rm -rf "$TMP"' EXIT
fail=0
bad() { echo "FAIL $*"; fail=1; }
dd if=/dev/zero of="$D/filler" bs=1M count=4 2>/dev/null
start_server --cache-dir "$D/cache" --ctx 2048
N=8
turn() { # turn AGENT_INDEX 1|2 OUT
    c=$(node -e "console.log('Agent $1 on disks: ' + Array.from({length: 90 + $1 * 11}, (_, k) => 'block ' + k).join(', '))")
    [ "$2" = 2 ] && c="$c $(jget "$TMP/t1-$1.json" 'j.choices[0].message.content') Go on."
    chat "full-$1" "$c" 8 "$3"
}
for t in 1 2; do
    i=0
    while [ $i -lt $N ]; do
        st=$(turn $i $t "$TMP/t$t-$i.json")
        [ "$st" = 200 ] || bad "turn $t of agent $i: status $st"
        i=$((i + 1))
    done
done
# Every write job ends in a save or a failure; wait for the queue to drain.
quiet() {
    n=$(( $(metric agentmem_cache_saves_total) + $(metric agentmem_cache_save_failures_total) ))
    [ "$n" = "${last:-x}" ] && return 0
    last=$n; sleep 0.3; return 1
}
wait_until 10 quiet || bad "write-behind did not settle"
nf=$(metric agentmem_cache_save_failures_total)
[ "${nf:-0}" -gt 0 ] || bad "no save failure counted on a full disk (saves $(metric agentmem_cache_saves_total))"
grep -q "cache save" "$LOG" || bad "save failures not logged"
[ "$(tmp_files "$D/cache")" = 0 ] || { bad "temp files left after failed saves"; ls -la "$D/cache"; }
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health/ready")" = 200 ] || bad "not ready on a full disk"
stop_server
[ "$(tmp_files "$D/cache")" = 0 ] || bad "temp files left after SIGTERM on a full disk"
rm -f "$D/filler"
"$A" cache verify --cache-dir "$D/cache" >"$TMP/v.txt" || { bad "cache verify after freeing space"; cat "$TMP/v.txt"; }
start_server --cache-dir "$D/cache" --ctx 2048
[ "$(tmp_files "$D/cache")" = 0 ] || bad "temp files after restart"
i=0
while [ $i -lt $N ]; do
    [ "$(turn $i 2 "$TMP/r-$i.json")" = 200 ] || bad "agent $i after restart"
    [ "$(jget "$TMP/r-$i.json" 'j.choices[0].message.content')" = "$(jget "$TMP/t2-$i.json" 'j.choices[0].message.content')" ] ||
        bad "agent $i answers differently after the full disk (cached $(jget "$TMP/r-$i.json" 'j.usage.prompt_tokens_details.cached_tokens'))"
    i=$((i + 1))
done
echo "$nf save failures; after restart: $(metric agentmem_cache_restores_total) restores, $(metric agentmem_cache_restore_failures_total) refused"
stop_server
exit $fail
