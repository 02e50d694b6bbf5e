#!/bin/sh
# bench/ttft.sh — the agent-memory table: TTFT cold (full prefill), warm (the
# same prompt after eviction to disk), warm with the page cache dropped,
# restart (after a server restart) and extend (+64 tokens on a hot cache), per
# KV type and prompt length, against the live server on mkmodel's llama-1b
# shape (Q4_0 weights). Median of REPS. Prints a table, writes
# bench/out/ttft.json.
#
# Environment: BUILD (build), KV_TYPES ("f16 q8_0 q4_0"), SIZES ("1024 2048
# 4096 8192 16384"), REPS (5), THREADS (2).
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
KV_TYPES=${KV_TYPES:-"f16 q8_0 q4_0"}
SIZES=${SIZES:-"1024 2048 4096 8192 16384"}
REPS=${REPS:-5}
THREADS=${THREADS:-2}
AM="$BUILD/agentmem"
OUT=bench/out
make -s -j2 BUILD="$BUILD" "$AM"
mkdir -p "$OUT"
MODEL="$OUT/llama-1b-q4_0.gguf"
[ -f "$MODEL" ] || "$AM" mkmodel --shape llama-1b --type q4_0 --seed 1 --quiet "$MODEL"
max=0
for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
ctx=$((max + 256))

start_server() { # $1 kv type, $2 cache dir -> sets PID, URL
    log="$OUT/ttft-server.log"
    "$AM" serve --model "$MODEL" --port 0 --kv-type "$1" --cache-dir "$2" --ctx "$ctx" \
        --threads "$THREADS" --parallel 1 >"$log" 2>&1 &
    PID=$!
    for _ in $(seq 600); do
        URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$log" | head -n 1)
        [ -n "$URL" ] && return 0
        sleep 0.1
    done
    echo "server did not start:" >&2
    cat "$log" >&2
    exit 1
}
stop_server() { kill -TERM "$PID"; wait "$PID" || true; }

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: $cpu, $(nproc) cores; model $MODEL; $THREADS threads; median of $REPS"
printf '%-6s %6s %10s %9s %10s %10s %10s %12s\n' kv tokens cold_ms warm_ms warm_disk restart_ms extend_ms bytes/token
json="$OUT/ttft.json"
echo "{\"cpu\": \"$cpu\", \"threads\": $THREADS, \"reps\": $REPS, \"rows\": [" >"$json"
first=1
for kv in $KV_TYPES; do
    dir=$(mktemp -d /tmp/am-ttft-XXXXXX)
    for n in $SIZES; do
        start_server "$kv" "$dir"
        row=$(node bench/ttft.mjs "$URL" "$n" "$REPS")
        stop_server
        start_server "$kv" "$dir"
        rs=$(node bench/ttft.mjs "$URL" "$n" "$REPS" restart)
        stop_server
        get() { echo "$1" | sed -n "s/.*\"$2\":\([0-9.enull-]*\).*/\1/p"; }
        bpt=$(awk "BEGIN { printf \"%.0f\", $(get "$row" save_bytes_first_turn) / $n }")
        wd=$(get "$row" warm_disk_ms)
        [ "$wd" = null ] || wd=$(printf '%.1f' "$wd")
        printf '%-6s %6s %10.1f %9.1f %10s %10.1f %10.1f %12s\n' "$kv" "$n" "$(get "$row" cold_ms)" \
            "$(get "$row" warm_ms)" "$wd" "$(get "$rs" ms)" "$(get "$row" extend_ms)" "$bpt"
        [ $first = 1 ] || echo "," >>"$json"
        first=0
        echo "{\"kv\": \"$kv\", \"run\": $row, \"restart\": $rs}" >>"$json"
    done
    rm -rf "$dir"
done
echo "]}" >>"$json"
echo "wrote $json"
