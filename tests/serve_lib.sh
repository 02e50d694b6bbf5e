# serve_lib.sh — sourced by the live-server tests: start_server ARGS... starts
# `agentmem serve --port 0` on a fixture model with a temporary cache dir
# (unless ARGS give one), waits for its ready line and sets PID and URL;
# stop_server sends SIGTERM and checks the exit status is 0.
A=${AGENTMEM:-build/agentmem}
MODEL=${MODEL:-tests/fixtures/models/llama3-tiny/llama3-tiny-q8_0.gguf}
TMP=$(mktemp -d /tmp/am-serve-XXXXXX)
trap 'kill -9 $PID 2>/dev/null; rm -rf "$TMP"' EXIT
start_server() {
    LOG="$TMP/server.$$.$(date +%s%N).log"
    : >"$LOG"
    "$A" serve --model "$MODEL" --port 0 --threads 2 "$@" >"$LOG" 2>&1 &
    PID=$!
    i=0
    while [ $i -lt 300 ]; do
        URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$LOG" | head -n 1)
        [ -n "$URL" ] && return 0
        kill -0 $PID 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    echo "server did not start"; cat "$LOG"; exit 1
}
stop_server() {
    kill -TERM $PID
    wait $PID
    rc=$?
    [ $rc -eq 0 ] || { echo "server exit status $rc after SIGTERM"; tail -n 20 "$LOG"; exit 1; }
}
