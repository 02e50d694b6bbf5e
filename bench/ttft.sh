#!/bin/sh
# bench/ttft.sh — the agent-memory table, against the live server (`agentmem
# serve --parallel 1`) on mkmodel's llama-1b shape with Q4_0 weights, per KV
# type and prompt length: TTFT cold (full prefill), warm (the same prompt
# after eviction to disk, page cache warm), warm_disk (page cache dropped),
# restart (after a real server restart on the same cache dir; fails unless
# cached_tokens shows the restore), extend (+64 new tokens on a hot cache);
# cache bytes per token (file on disk, pool), save time per turn (vs context
# and vs new tokens), agents that fit a 4 GiB pool at 4K tokens, the warm
# target (file bytes / read bandwidth + one decode step), and llama.cpp's cold
# TTFT (node-llama-cpp, bench/llamacpp.mjs) on the same GGUF file.
# Prints tables (bench/ttft_report.mjs), writes bench/out/ttft.json.
#
# Environment (defaults: a full run, ~13 minutes on a quiet 2-core machine (DRY=1 prints the estimate)):
#   KV_TYPES ("f16 q8_0 q4_0"), SIZES ("1024 2048 4096 8192 16384"),
#   REPS (3: warm, warm_disk, restart, extend, and cold below COLD_LONG),
#   COLD_LONG (4096: from this size on, one cold prefill per size),
#   LONG (8192) and LONG_KV ("q4_0"): sizes >= LONG run only for these KV types,
#   SAVE_NEW ("16 64 256": the save-time sweep's new tokens per turn),
#   EXTEND_REF ("1024 4096": sizes at which the extend target's reference, the
#     engine alone prefilling the extend turn's new tokens at that depth
#     (`agentmem bench -p NEW -d N --kv KV`, no server), is measured right after
#     that size's server runs; each costs one untimed prefill of N),
#   LLAMA_SIZES (the SIZES below LONG: llama.cpp cold TTFT; "" or LLAMACPP=0: none),
#   DRY (1: print the estimate and stop), THREADS (2), BUILD (build), MODEL (a GGUF file) or SHAPE (llama-1b) and
#   WTYPE (q4_0) for mkmodel, EST_PP (190: assumed prefill tok/s, for the estimate).
# Quick check: SHAPE=tiny SIZES="256 512" REPS=1 KV_TYPES=q8_0 LLAMA_SIZES=256 bench/ttft.sh
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
KV_TYPES=${KV_TYPES:-"f16 q8_0 q4_0"}
SIZES=${SIZES:-"1024 2048 4096 8192 16384"}
REPS=${REPS:-3}
COLD_LONG=${COLD_LONG:-4096}
LONG=${LONG:-8192}
LONG_KV=${LONG_KV:-"q4_0"}
SAVE_NEW=${SAVE_NEW:-"16 64 256"}
EXTEND_REF=${EXTEND_REF:-"1024 4096"}
THREADS=${THREADS:-2}
if [ -z "${LLAMA_SIZES+set}" ]; then # default: the sizes below LONG
    LLAMA_SIZES=""
    for n in $SIZES; do [ "$n" -lt "$LONG" ] && LLAMA_SIZES="$LLAMA_SIZES${LLAMA_SIZES:+ }$n"; done
fi
AM="$BUILD/agentmem"
OUT=bench/out
. bench/lib.sh
make -s -j2 BUILD="$BUILD" "$AM"
mkdir -p "$OUT"
bench_model
cmd="KV_TYPES=\"$KV_TYPES\" SIZES=\"$SIZES\" REPS=$REPS COLD_LONG=$COLD_LONG LONG=$LONG LONG_KV=\"$LONG_KV\" SAVE_NEW=\"$SAVE_NEW\" EXTEND_REF=\"$EXTEND_REF\" LLAMA_SIZES=\"$LLAMA_SIZES\" THREADS=$THREADS MODEL=$MODEL"
bench_header bench/ttft.sh "$cmd"

runs() { # $1 kv -> the sizes it runs
    for n in $SIZES; do
        if [ "$n" -lt "$LONG" ]; then echo "$n"; else case " $LONG_KV " in *" $1 "*) echo "$n" ;; esac; fi
    done
}
cold_reps() { if [ "$1" -lt "$COLD_LONG" ]; then echo "$REPS"; else echo 1; fi; }
max=0
for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
sweep=0
for k in $SAVE_NEW; do sweep=$((sweep + k + 8)); done
ctx=$((max + REPS * 80 + sweep + 512))

# The estimate: cold prefills, server starts (EST_START each: the model is mmapped
# and paged in), the extend turns and save sweep, llama.cpp's cold prompts.
est=0
for kv in $KV_TYPES; do
    for n in $(runs "$kv"); do
        est=$((est + $(cold_reps "$n") * $(est_prefill "$n") + (REPS + 1) * EST_START + REPS * $(est_prefill 64) + $(est_prefill "$sweep") + 2))
    done
done
for n in $LLAMA_SIZES; do est=$((est + $(est_prefill "$n") + 2)); done
for kv in $KV_TYPES; do for n in $EXTEND_REF; do est=$((est + $(est_prefill "$n") + 5)); done; done
[ -n "$LLAMA_SIZES" ] && est=$((est + 20))
echo "estimate: about $(fmt_min "$est") (at an assumed ${EST_PP:-190} tok/s prefill; cold is the median of $REPS below $COLD_LONG tokens and ONE run from $COLD_LONG on, where one cold prefill takes minutes; sizes >= $LONG only for KV $LONG_KV)"
echo "model $MODEL; $THREADS threads; server --ctx $ctx --parallel 1"
BENCH_EST=$est
[ "${DRY:-0}" = 1 ] && exit 0 # DRY=1: the header and the estimate only

llama='{"ok": false, "error": "LLAMA_SIZES is empty"}'
if [ -n "$LLAMA_SIZES" ]; then
    echo "llama.cpp (node-llama-cpp): cold TTFT at $LLAMA_SIZES tokens..." >&2
    llama=$(PP=0 TG=0 REPS=1 TTFT="$LLAMA_SIZES" THREADS=$THREADS llamacpp_json)
fi

rows=$(mktemp /tmp/am-ttft-rows-XXXXXX)
refs=""
trap 'rm -f "$rows"' EXIT
for kv in $KV_TYPES; do
    dir=$(mktemp -d /tmp/am-ttft-XXXXXX)
    for n in $(runs "$kv"); do
        echo "kv $kv, $n tokens..." >&2
        flags="--kv-type $kv --cache-dir $dir --ctx $ctx --threads $THREADS --parallel 1"
        start_server "$OUT/ttft-server.log" $flags
        row=$(COLD_REPS=$(cold_reps "$n") REPS=$REPS SAVE_NEW="$SAVE_NEW" node bench/ttft.mjs "$URL" "$dir" "$n" all)
        stop_server
        rs=""
        for _ in $(seq "$REPS"); do # a real restart each time, on the same cache dir
            start_server "$OUT/ttft-server.log" $flags
            r=$(node bench/ttft.mjs "$URL" "$dir" "$n" restart) || {
                echo "bench/ttft.sh: the restart measurement is invalid (see above); server log:" >&2
                cat "$OUT/ttft-server.log" >&2
                stop_server
                exit 1
            }
            stop_server
            rs="$rs${rs:+, }$r"
        done
        [ -s "$rows" ] && echo "," >>"$rows"
        echo "{\"kv\": \"$kv\", \"run\": $row, \"restart\": [$rs]}" >>"$rows"
        # The extend target's reference, measured right after this size's server
        # runs (the reference moves by +-25 ms between runs far apart): the engine
        # alone prefilling as many new tokens as the extend turn really did (its
        # text is 64 tokens; the edge with the prompt can re-tokenize to a few
        # more) on top of N cached ones — no server, HTTP or cache lookup; mean of 5.
        case " $EXTEND_REF " in *" $n "*)
            p=$(node -e 'const r = JSON.parse(process.argv[1]); console.log(r.extend_new_tokens > 0 ? r.extend_new_tokens : 64);' "$row")
            echo "engine alone: pp$p at depth $n, kv $kv..." >&2
            r=$("$AM" bench -m "$MODEL" -t "$THREADS" -p "$p" -n 0 -d "$n" --kv "$kv" -r 5 --json)
            refs="$refs${refs:+, }{\"kv\": \"$kv\", \"tokens\": $n, \"bench\": $r}"
            ;;
        esac
    done
    rm -rf "$dir"
done

json="$OUT/ttft.json"
{
    echo "{$(bench_json_head "$cmd bench/ttft.sh"), \"threads\": $THREADS, \"reps\": $REPS, \"cold_long\": $COLD_LONG,"
    echo " \"model\": \"$MODEL\", \"llamacpp\": $llama, \"extend_ref\": [$refs], \"rows\": ["
    cat "$rows"
    echo "]}"
} >"$json"
node bench/ttft_report.mjs "$json"
bench_footer
echo "wrote $json"
