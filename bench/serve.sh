#!/bin/sh
# bench/serve.sh — serving many agents: (a) C concurrent multi-turn
# conversations (TTFT p50/p95 per turn, system and per-agent tokens/s, server
# RSS), (b) routing: EXPERTS agents primed with an article, queried in random
# order through a --kv-budget that holds only 3 of them, (c) a short request
# arriving during a long prefill. Prints a table, writes bench/out/serve.json.
#
# Environment: BUILD (build), KV_TYPE (f16), THREADS (2), AGENTS ("1 2 4 8"),
# TURNS (8), USER_TOKENS (256), GEN (32), EXPERTS (10), ARTICLE (4096),
# QUERIES (30), LONG (4096), PARTS ("agents routing interrupt").
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
KV_TYPE=${KV_TYPE:-f16}
THREADS=${THREADS:-2}
AGENTS=${AGENTS:-"1 2 4 8"}
TURNS=${TURNS:-8}
USER_TOKENS=${USER_TOKENS:-256}
GEN=${GEN:-32}
EXPERTS=${EXPERTS:-10}
ARTICLE=${ARTICLE:-4096}
QUERIES=${QUERIES:-30}
LONG=${LONG:-4096}
PARTS=${PARTS:-"agents routing interrupt"}
AM="$BUILD/agentmem"
OUT=bench/out
make -s -j2 BUILD="$BUILD" "$AM"
mkdir -p "$OUT"
MODEL="$OUT/llama-1b-q4_0.gguf"
[ -f "$MODEL" ] || "$AM" mkmodel --shape llama-1b --type q4_0 --seed 1 --quiet "$MODEL"

# KV bytes per token for mkmodel's llama-1b shape: 16 layers x 8 KV heads x
# head_dim 64 x (K+V) x element size (f16 2, q8_0 34/32, q4_0 18/32).
case $KV_TYPE in
f16) bpt=32768 ;; q8_0) bpt=17408 ;; q4_0) bpt=9216 ;; *) echo "KV_TYPE?" >&2; exit 1 ;;
esac

start_server() { # extra serve flags -> sets PID, URL
    log="$OUT/serve-server.log"
    "$AM" serve --model "$MODEL" --port 0 --kv-type "$KV_TYPE" --cache-dir "$DIR" \
        --threads "$THREADS" "$@" >"$log" 2>&1 &
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
get() { echo "$1" | sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p"; }

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "machine: $cpu, $(nproc) cores; model $MODEL; kv $KV_TYPE; $THREADS threads; load $(cut -d' ' -f1-3 /proc/loadavg)"
json="$OUT/serve.json"
echo "{\"cpu\": \"$cpu\", \"threads\": $THREADS, \"kv\": \"$KV_TYPE\", \"rows\": [" >"$json"
first=1
emit() { [ $first = 1 ] || echo "," >>"$json"; first=0; echo "$1" >>"$json"; }

maxc=1
for c in $AGENTS; do [ "$c" -gt "$maxc" ] && maxc=$c; done
case " $PARTS " in *" agents "*)
    ctx=$(( (TURNS * (USER_TOKENS + GEN + 16)) + 256 ))
    echo
    echo "(a) concurrent agents: $TURNS turns of $USER_TOKENS user + $GEN generated tokens"
    printf '%6s %8s %10s %10s %10s %10s %10s %10s %9s\n' agents prompt ttft1_p50 ttft1_p95 \
        ttftN_p50 ttftN_p95 sys_tok/s agent_tok/s rss_MiB
    for c in $AGENTS; do
        DIR=$(mktemp -d /tmp/am-serve-XXXXXX)
        start_server --ctx "$ctx" --parallel "$c"
        row=$(node bench/serve.mjs "$URL" "$PID" agents "$c" "$TURNS" "$USER_TOKENS" "$GEN")
        stop_server
        rm -rf "$DIR"
        p50=$(get "$row" ttft_p50_ms | tr -d '[]'); p95=$(echo "$row" | sed -n 's/.*"ttft_p95_ms":\[\([^]]*\)\].*/\1/p')
        p50=$(echo "$row" | sed -n 's/.*"ttft_p50_ms":\[\([^]]*\)\].*/\1/p')
        printf '%6s %8s %10s %10s %10s %10s %10s %10s %9s\n' "$c" "$(get "$row" final_prompt_tokens)" \
            "${p50%%,*}" "${p95%%,*}" "${p50##*,}" "${p95##*,}" "$(get "$row" system_tok_s)" \
            "$(get "$row" agent_tok_s)" "$(get "$row" rss_max_mib)"
        emit "$row"
    done
;; esac

case " $PARTS " in *" routing "*)
    per=$((2 * ARTICLE + 256 + QUERIES * 64)) # detokenized text can re-tokenize longer
    budget_mib=$(( (3 * per * bpt + 1048575) / 1048576 ))
    echo
    echo "(b) routing: $EXPERTS experts x $ARTICLE-token articles, $QUERIES queries, --kv-budget ${budget_mib}M (3 agents)"
    DIR=$(mktemp -d /tmp/am-serve-XXXXXX)
    start_server --ctx "$per" --parallel 1 --kv-budget "${budget_mib}M"
    row=$(node bench/serve.mjs "$URL" "$PID" routing "$EXPERTS" "$ARTICLE" "$QUERIES")
    stop_server
    rm -rf "$DIR"
    printf '%12s %12s %12s %12s %10s %9s\n' prime_p50 prime_p95 query_p50 query_p95 restores evictions
    printf '%12s %12s %12s %12s %10s %9s\n' "$(get "$row" prime_p50_ms)" "$(get "$row" prime_p95_ms)" \
        "$(get "$row" query_p50_ms)" "$(get "$row" query_p95_ms)" "$(get "$row" restores)" "$(get "$row" evictions)"
    emit "$(echo "$row" | sed "s/}\$/, \"kv_budget_mib\": $budget_mib}/")"
;; esac

case " $PARTS " in *" interrupt "*)
    echo
    echo "(c) a short request arriving during a $LONG-token prefill"
    DIR=$(mktemp -d /tmp/am-serve-XXXXXX)
    start_server --ctx "$((LONG + 256))" --parallel 2
    row=$(node bench/serve.mjs "$URL" "$PID" interrupt "$LONG")
    stop_server
    rm -rf "$DIR"
    printf '%12s %14s %14s %8s %9s\n' long_ttft short_alone short_during steps step_ms
    printf '%12s %14s %14s %8s %9s\n' "$(get "$row" long_ttft_ms)" "$(get "$row" short_alone_ttft_ms)" \
        "$(get "$row" short_during_ttft_ms)" "$(get "$row" scheduler_steps)" "$(get "$row" step_ms)"
    emit "$row"
;; esac
echo "]}" >>"$json"
echo "wrote $json"
