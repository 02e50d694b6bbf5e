#!/bin/sh
# bench/serve.sh — serving many agents against the live server (bench/serve.mjs):
#   (a) C concurrent agents (--parallel C), each a multi-turn chat growing to
#       a few thousand tokens (64 user + 256 generated tokens a turn by
#       default, a chat or agent loop whose replies are longer than what it is
#       told; USER_TOKENS=256 GEN=32 is the prefill-bound opposite): TTFT p50/p95 of the first and the last turn,
#       system and per-agent decode tokens/s (first to last token of each
#       stream), peak server RSS; target: system decode at 4 agents >= 2.5x
#       one agent, at 8 >= 3.5x;
#   (b) routing: EXPERTS agents primed with an ARTICLE-token article, queried
#       in random order through a --kv-budget that holds only 3 of them;
#       target: query TTFT >= 100x faster than priming;
#   (c) interrupt: SHORTS short requests arriving during a LONG-token prefill
#       (--parallel 2), p95 TTFT beside the chunk (scheduler step) time;
#       target: p95 <= 2 chunk times.
# Prints tables, writes bench/out/serve.json.
#
# Environment (defaults: a full run, ~9 minutes on a quiet 2-core machine (DRY=1 prints the estimate)):
#   AGENTS ("1 2 4 8"), TURNS (8), USER_TOKENS (64), GEN (256), EXPERTS (10),
#   ARTICLE (4096), QUERIES (30), QUERY_TOKENS (24), LONG (4096), SHORTS (10),
#   PARTS ("agents routing interrupt"), KV_TYPE (q8_0, the server's default), STEP_TOKENS (the server's default), DRY (1: estimate only), THREADS (2), BUILD
#   (build), MODEL or SHAPE (llama-1b) and WTYPE (q4_0), EST_PP (190 tok/s).
# Quick check: SHAPE=tiny AGENTS="1 2" TURNS=2 GEN=8 EXPERTS=4 ARTICLE=256 QUERIES=6 LONG=1024 bench/serve.sh
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
KV_TYPE=${KV_TYPE:-q8_0}
STEP_TOKENS=${STEP_TOKENS:-} # empty: the server's default (--step-tokens)
THREADS=${THREADS:-2}
AGENTS=${AGENTS:-"1 2 4 8"}
TURNS=${TURNS:-8}
USER_TOKENS=${USER_TOKENS:-64}
GEN=${GEN:-256}
EXPERTS=${EXPERTS:-10}
ARTICLE=${ARTICLE:-4096}
QUERIES=${QUERIES:-30}
QUERY_TOKENS=${QUERY_TOKENS:-24}
LONG=${LONG:-4096}
SHORTS=${SHORTS:-10}
PARTS=${PARTS:-"agents routing interrupt"}
AM="$BUILD/agentmem"
OUT=bench/out
. bench/lib.sh
make -s -j2 BUILD="$BUILD" "$AM"
mkdir -p "$OUT"
bench_model
cmd="AGENTS=\"$AGENTS\" TURNS=$TURNS USER_TOKENS=$USER_TOKENS GEN=$GEN EXPERTS=$EXPERTS ARTICLE=$ARTICLE QUERIES=$QUERIES QUERY_TOKENS=$QUERY_TOKENS LONG=$LONG SHORTS=$SHORTS PARTS=\"$PARTS\" KV_TYPE=$KV_TYPE STEP_TOKENS=$STEP_TOKENS THREADS=$THREADS MODEL=$MODEL"
bench_header bench/serve.sh "$cmd"
has() { case " $PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

# Pool bytes per token of this model and KV type: layers x KV heads x head_dim
# x (K+V) x element size (f16 2, q8_0 34/32, q4_0 18/32), from `model info`.
bpt=$("$AM" model info "$MODEL" --json | node -e '
const h = JSON.parse(require("fs").readFileSync(0, "utf8")).hparams;
const el = { f16: 2, q8_0: 34 / 32, q4_0: 18 / 32 }[process.argv[1]];
if (!el) { console.error("KV_TYPE: f16|q8_0|q4_0"); process.exit(1); }
console.log(Math.round(h.n_layer * h.n_head_kv * h.head_dim * 2 * el));' "$KV_TYPE")

# The estimate: prefills (each agent's turns; the experts' articles; the long
# prompt) at EST_PP, decode at ~30 tok/s per step, EST_START s per server start.
est=0
if has agents; then
    for c in $AGENTS; do
        est=$((est + EST_START + c * TURNS * $(est_prefill $((USER_TOKENS + 24))) + TURNS * GEN * (10 + c) / 300))
    done
fi
has routing && est=$((est + EST_START + EXPERTS * $(est_prefill $((ARTICLE + 100))) + QUERIES))
has interrupt && est=$((est + EST_START + $(est_prefill "$LONG") + 5))
echo "estimate: about $(fmt_min "$est") (at an assumed ${EST_PP:-190} tok/s prefill)"
echo "model $MODEL; kv $KV_TYPE ($bpt pool bytes/token); $THREADS threads"
BENCH_EST=$est
[ "${DRY:-0}" = 1 ] && exit 0 # DRY=1: the header and the estimate only

rows=$(mktemp /tmp/am-serve-rows-XXXXXX)
trap 'rm -f "$rows"' EXIT
emit() { [ -s "$rows" ] && echo "," >>"$rows"; echo "$1" >>"$rows"; }
get() { echo "$1" | sed -n "s/.*\"$2\":\([^,}]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0 && a != "null") printf "%.2f", a / b; else printf "-" }'; }
verdict() { awk -v x="$1" -v t="$2" -v op="$3" 'BEGIN { if (x == "-" || x == "") print "not measured"; else if ((op == ">=" && x + 0 >= t) || (op == "<=" && x + 0 <= t)) print "met"; else print "NOT met" }'; }

if has agents; then
    ctx=$((TURNS * (2 * USER_TOKENS + 6 * GEN + 32) + 512)) # margin: the chat template and re-tokenized text (random-weight answers re-tokenize to up to ~3x their tokens)
    echo
    echo "(a) concurrent agents: $TURNS turns of $USER_TOKENS user + $GEN generated tokens each, --parallel = agents"
    printf '%6s %8s %10s %10s %10s %10s %10s %12s %9s\n' agents prompt ttft1_p50 ttft1_p95 \
        ttftN_p50 ttftN_p95 sys_tok/s agent_tok/s rss_MiB
    sys1=""
    targets=""
    for c in $AGENTS; do
        DIR=$(mktemp -d /tmp/am-serve-XXXXXX)
        start_server "$OUT/serve-server.log" ${STEP_TOKENS:+--step-tokens "$STEP_TOKENS"} --kv-type "$KV_TYPE" --cache-dir "$DIR" --threads "$THREADS" \
            --ctx "$ctx" --parallel "$c"
        row=$(node bench/serve.mjs "$URL" "$PID" agents "$c" "$TURNS" "$USER_TOKENS" "$GEN")
        stop_server
        rm -rf "$DIR"
        p50=$(echo "$row" | sed -n 's/.*"ttft_p50_ms":\[\([^]]*\)\].*/\1/p')
        p95=$(echo "$row" | sed -n 's/.*"ttft_p95_ms":\[\([^]]*\)\].*/\1/p')
        sys=$(get "$row" system_tok_s)
        printf '%6s %8s %10s %10s %10s %10s %10s %12s %9s\n' "$c" "$(get "$row" final_prompt_tokens)" \
            "${p50%%,*}" "${p95%%,*}" "${p50##*,}" "${p95##*,}" "$sys" "$(get "$row" agent_tok_s)" "$(get "$row" rss_max_mib)"
        [ "$c" = 1 ] && sys1=$sys
        case $c in
        4) x=$(ratio "$sys" "$sys1"); targets="$targets
  system decode at 4 agents = ${x}x one agent (target >= 2.5x: $(verdict "$x" 2.5 '>='))" ;;
        8) x=$(ratio "$sys" "$sys1"); targets="$targets
  system decode at 8 agents = ${x}x one agent (target >= 3.5x: $(verdict "$x" 3.5 '>='))" ;;
        esac
        emit "$row"
    done
    echo "prompt: the last turn's prompt tokens; ttft1/ttftN: first/last turn, ms; tok/s: decode, first to last token of each stream"
    [ -n "$targets" ] && echo "targets:$targets"
    [ -z "$sys1" ] && [ -n "$targets" ] && echo "  (the ratios need AGENTS to include 1)"
fi

if has routing; then
    # An expert's tokens: its article, the chat template and "Summarize." (~100),
    # its share of the queries (~48 tokens each with the answer). The budget
    # holds 3.5 such agents: 3 fit, a 4th never does.
    per=$((ARTICLE + 128 + (QUERIES + EXPERTS - 1) / EXPERTS * 48))
    budget_kib=$(( (7 * per * bpt / 2 + 1023) / 1024 ))
    echo
    echo "(b) routing: $EXPERTS experts x $ARTICLE-token articles, $QUERIES queries of $QUERY_TOKENS tokens in random order, --kv-budget ${budget_kib}K (3 experts of ~$per tokens)"
    DIR=$(mktemp -d /tmp/am-serve-XXXXXX)
    start_server "$OUT/serve-server.log" ${STEP_TOKENS:+--step-tokens "$STEP_TOKENS"} --kv-type "$KV_TYPE" --cache-dir "$DIR" --threads "$THREADS" \
        --ctx $((per + ARTICLE / 2 + 512)) --parallel 1 --kv-budget "${budget_kib}K"
    row=$(node bench/serve.mjs "$URL" "$PID" routing "$EXPERTS" "$ARTICLE" "$QUERIES" "$QUERY_TOKENS")
    stop_server
    rm -rf "$DIR"
    printf '%12s %12s %12s %12s %9s %10s %9s %12s %10s\n' prime_p50 prime_p95 query_p50 query_p95 speedup restores evictions query_cached query_new
    printf '%12s %12s %12s %12s %9s %10s %9s %12s %10s\n' "$(get "$row" prime_p50_ms)" "$(get "$row" prime_p95_ms)" \
        "$(get "$row" query_p50_ms)" "$(get "$row" query_p95_ms)" "$(get "$row" query_speedup)x" \
        "$(get "$row" restores)" "$(get "$row" evictions)" "$(get "$row" query_cached_min)+" "$(get "$row" query_new_tokens_p50)"
    x=$(get "$row" query_speedup)
    echo "targets:"
    echo "  query TTFT p50 ${x}x faster than priming (target >= 100x: $(verdict "$x" 100 '>='))"
    emit "$(echo "$row" | sed "s/}\$/, \"kv_budget_kib\": $budget_kib, \"pool_bytes_per_token\": $bpt}/")"
fi

if has interrupt; then
    echo
    echo "(c) interrupt: up to $SHORTS short (16-token) requests, one after another, during a $LONG-token prefill (--parallel 2)"
    DIR=$(mktemp -d /tmp/am-serve-XXXXXX)
    start_server "$OUT/serve-server.log" ${STEP_TOKENS:+--step-tokens "$STEP_TOKENS"} --kv-type "$KV_TYPE" --cache-dir "$DIR" --threads "$THREADS" \
        --ctx "$((LONG + 512))" --parallel 2
    row=$(node bench/serve.mjs "$URL" "$PID" interrupt "$LONG" "$SHORTS")
    stop_server
    rm -rf "$DIR"
    printf '%12s %12s %8s %12s %12s %8s %9s\n' long_ttft short_alone n_during during_p50 during_p95 steps chunk_ms
    printf '%12s %12s %8s %12s %12s %8s %9s\n' "$(get "$row" long_ttft_ms)" "$(get "$row" short_alone_ttft_ms)" \
        "$(get "$row" short_during_n)" "$(get "$row" short_during_p50_ms)" "$(get "$row" short_during_p95_ms)" \
        "$(get "$row" scheduler_steps)" "$(get "$row" step_ms)"
    echo "chunk_ms: a long prompt of the same length alone: its time to first token / its scheduler steps"
    x=$(get "$row" p95_over_step)
    [ "$x" = null ] && x=-
    echo "targets:"
    echo "  short-request p95 TTFT = $x chunk times (target <= 2: $(verdict "$x" 2 '<='))"
    emit "$row"
fi

json="$OUT/serve.json"
{
    echo "{$(bench_json_head "$cmd bench/serve.sh"), \"threads\": $THREADS, \"kv\": \"$KV_TYPE\", \"model\": \"$MODEL\", \"rows\": ["
    cat "$rows"
    echo "]}"
} >"$json"
bench_footer
echo "wrote $json"
