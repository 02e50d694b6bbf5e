#!/bin/sh
# bench/run.sh — the CPU-speed issue's benchmark table: Llama-3.2-1B-shaped
# synthetic models (agentmem mkmodel --shape llama-1b), every line measured by
# agentmem (`agentmem bench`) and llama.cpp (node-llama-cpp, bench/llamacpp.mjs)
# on the same GGUF files in the same run, with 2 threads:
#   memory     the read bandwidth of the compute threads (`bench --memory`),
#              the clock and the int8 peak, against which rows are reported;
#   pp / tg    pp512 and tg128 for each weight type of TYPES;
#   depth      pp512 and tg128 after D cached tokens, D in DEPTHS, for each
#              KV type of KVS, on the DEPTH_TYPE model ("pp512 @ d4096" is
#              the extend turn); KV types not in DEEP_KVS run the first
#              depth only (the deep prefills are the slow part);
#   seqs       aggregate decode of S sequences at once (S in SEQS), each with
#              SEQ_PROMPT cached tokens, SEQ_GEN steps (llama-batched-bench).
# Builds if needed, takes the models from MODEL_DIR (or generates them into
# bench/out/ once), prints the table and writes bench/out/results.json.
# When node-llama-cpp is not installed (cd bench && npm install) or fails,
# its columns are "-" with a note.
#
# Environment: BUILD (build dir, default build), THREADS (2), REPS (3: the
# pp/tg rows), DEPTH_REPS (1: the depth and seqs rows, whose untimed
# prefills dominate anyway),
# TYPES ("q4_0 q4_k q8_0 f16 bf16"; q4_k is llama.cpp's Q4_K_M mix), PP (512), TG (128), SHAPE (llama-1b),
# MODEL_DIR (bench/out: where $SHAPE-$TYPE.gguf are looked for first),
# DEPTHS ("4096 16384"; "" skips), KVS ("f16 q8_0 q4_0"), DEEP_KVS (f16),
# DEPTH_TYPE (q4_0), SEQS ("1 4 8"; "" skips), SEQ_PROMPT (1024),
# SEQ_GEN (128), LLAMACPP (1; 0 skips llama.cpp), DRY (1: the estimate only).
# Quick check: SHAPE=tiny REPS=1 PP=64 TG=16 DEPTHS=256 SEQS="2 4" SEQ_PROMPT=64 SEQ_GEN=8 bench/run.sh
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
REPS=${REPS:-3}
DEPTH_REPS=${DEPTH_REPS:-1}
TYPES=${TYPES-"q4_0 q4_k q8_0 f16 bf16"}
PP=${PP:-512}
TG=${TG:-128}
SHAPE=${SHAPE:-llama-1b}
MODEL_DIR=${MODEL_DIR:-bench/out}
DEPTHS=${DEPTHS-"4096 16384"}
KVS=${KVS:-"f16 q8_0 q4_0"}
DEEP_KVS=${DEEP_KVS-f16}
DEPTH_TYPE=${DEPTH_TYPE:-q4_0}
SEQS=${SEQS-"1 4 8"}
SEQ_PROMPT=${SEQ_PROMPT:-1024}
SEQ_GEN=${SEQ_GEN:-128}
LLAMACPP=${LLAMACPP:-1}
AM="$BUILD/agentmem"
OUT=bench/out
. bench/lib.sh
command -v jq > /dev/null || { echo "bench/run.sh needs jq (apt-get install jq)" >&2; exit 1; }

make -s -j2 BUILD="$BUILD" "$AM"
mkdir -p "$OUT"
cmd="THREADS=$THREADS REPS=$REPS DEPTH_REPS=$DEPTH_REPS TYPES=\"$TYPES\" PP=$PP TG=$TG SHAPE=$SHAPE DEPTHS=\"$DEPTHS\" KVS=\"$KVS\""
cmd="$cmd DEEP_KVS=\"$DEEP_KVS\" DEPTH_TYPE=$DEPTH_TYPE SEQS=\"$SEQS\" SEQ_PROMPT=$SEQ_PROMPT SEQ_GEN=$SEQ_GEN"
cmd="$cmd LLAMACPP=$LLAMACPP"
bench_header bench/run.sh "$cmd"
flags=$(grep -m 1 '^flags' /proc/cpuinfo)
isa=""
for f in avx2 avx512f avx512_vnni avx512_bf16 avx512_fp16; do
    case " $flags " in *" $f "*) isa="$isa $f" ;; esac
done
first_depth=${DEPTHS%% *}
max_depth=0
for d in $DEPTHS; do [ "$d" -gt "$max_depth" ] && max_depth=$d; done

# Estimate, seconds (EST_PP: cold prefill tokens/s, lib.sh; llama.cpp taken
# as half our speed): per type a warm-up and REPS x (pp + tg, slower for the
# bigger types); per KV type a prefill to its deepest depth plus REPS x (pp +
# tg) at each depth; the batched prompts and steps.
est=0
for t in $TYPES; do
    case $t in f16 | bf16) k=3 ;; q8_0) k=2 ;; *) k=1 ;; esac
    est=$((est + 3 * (5 + REPS * (PP / 150 + k * TG / 30))))
done
n_depths=$(echo $DEPTHS | wc -w)
for kv in $KVS; do
    [ -n "$DEPTHS" ] || break
    deep=$first_depth
    case " $DEEP_KVS " in *" $kv "*) deep=$max_depth ;; esac
    est=$((est + 3 * ($(est_prefill "$deep") + 5 + (n_depths + 1) * DEPTH_REPS * (PP / 100 + TG / 25))))
done
smax=0
for s in $SEQS; do
    [ "$s" -gt "$smax" ] && smax=$s
    est=$((est + 3 * DEPTH_REPS * SEQ_GEN / 25))
done
[ "$smax" -gt 0 ] && est=$((est + 3 * $(est_prefill "$SEQ_PROMPT") * smax))
[ "$LLAMACPP" = 0 ] && est=$((est / 3))
echo "estimate: about $(fmt_min "$est") (agentmem and llama.cpp; $REPS reps of pp/tg, $DEPTH_REPS of depth and seqs)"
BENCH_EST=$est
[ "${DRY:-0}" = 1 ] && exit 0 # DRY=1: the header and the estimate only

# The model of type $1: MODEL_DIR's, else bench/out's, generated once.
model_of() {
    m="$MODEL_DIR/$SHAPE-$1.gguf"
    [ -f "$m" ] && { echo "$m"; return; }
    m="$OUT/$SHAPE-$1.gguf"
    [ -f "$m" ] || "$AM" mkmodel --shape "$SHAPE" --type "$1" --seed 1 --quiet "$m" >&2
    echo "$m"
}
runs=""
add_run() { # $1 line group, $2 weight type, $3 kv, $4 agentmem JSON, $5 llama.cpp JSON
    runs="$runs${runs:+,
    }{\"group\": \"$1\", \"wtype\": \"$2\", \"kv\": \"$3\", \"agentmem\": $4, \"llamacpp\": $5}"
}
ll() { # llama.cpp on $MODEL with the given VAR=value settings
    (
        export REPS
        unset PP TG DEPTHS KV SEQS SEQ_PROMPT SEQ_GEN CTX # this run's settings only, not the caller's
        # shellcheck disable=SC2163 # each is VAR=value: export sets and exports it
        for setting in "$@"; do export "$setting"; done
        TTFT=""
        export THREADS TTFT
        llamacpp_json
    )
}

echo "agentmem bench --memory ($THREADS threads)..." >&2
mem=$("$AM" bench --memory --threads "$THREADS" --json)

for t in $TYPES; do
    MODEL=$(model_of "$t")
    export MODEL LLAMACPP
    echo "agentmem bench: $MODEL ($THREADS threads, $REPS reps)..." >&2
    a=$("$AM" bench --model "$MODEL" --threads "$THREADS" --reps "$REPS" --pp "$PP" --tg "$TG" --json)
    [ "$LLAMACPP" = 0 ] || echo "llama.cpp (node-llama-cpp): $MODEL..." >&2
    add_run short "$t" f16 "$a" "$(ll PP="$PP" TG="$TG")"
done
if [ -n "$DEPTHS" ]; then
    MODEL=$(model_of "$DEPTH_TYPE")
    export MODEL LLAMACPP
    for kv in $KVS; do
        ds="0 $first_depth"
        case " $DEEP_KVS " in *" $kv "*) ds="0 $DEPTHS" ;; esac
        echo "agentmem bench: $MODEL, KV $kv, depths $ds..." >&2
        a=$("$AM" bench --model "$MODEL" --threads "$THREADS" --reps "$DEPTH_REPS" --pp "$PP" --tg "$TG" --kv "$kv" \
            --depth "$(echo $ds | tr ' ' ,)" --json)
        [ "$LLAMACPP" = 0 ] || echo "llama.cpp (node-llama-cpp): $MODEL, KV $kv, depths $ds..." >&2
        add_run depth "$DEPTH_TYPE" "$kv" "$a" "$(ll REPS="$DEPTH_REPS" PP="$PP" TG="$TG" DEPTHS="$ds" KV="$kv")"
    done
fi
if [ -n "$SEQS" ]; then
    MODEL=$(model_of "$DEPTH_TYPE")
    export MODEL LLAMACPP
    echo "agentmem bench: $MODEL, sequences $SEQS at $SEQ_PROMPT tokens..." >&2
    a=$("$AM" bench --model "$MODEL" --threads "$THREADS" --reps "$DEPTH_REPS" --pp 0 --tg 0 \
        --seqs "$(echo $SEQS | tr ' ' ,)" --seq-prompt "$SEQ_PROMPT" --seq-gen "$SEQ_GEN" --json)
    [ "$LLAMACPP" = 0 ] || echo "llama.cpp (node-llama-cpp): $MODEL, sequences $SEQS..." >&2
    add_run seqs "$DEPTH_TYPE" f16 "$a" "$(ll REPS="$DEPTH_REPS" PP=0 TG=0 DEPTHS=0 SEQS="$SEQS" SEQ_PROMPT="$SEQ_PROMPT" SEQ_GEN="$SEQ_GEN")"
fi

cat > "$OUT/results.json" <<JSON
{
  $(bench_json_head "$cmd bench/run.sh"),
  "isa": "$(echo $isa)",
  "threads": $THREADS,
  "reps": $REPS,
  "depth_reps": $DEPTH_REPS,
  "shape": "$SHAPE",
  "memory": $mem,
  "results": [
    $runs
  ]
}
JSON
# The table, from results.json: every agentmem row beside llama.cpp's row of
# the same name (the depth group's depth-0 rows only feed its "% of d0").
# Bounds: pp GOP/s (2 x matmul params x tokens / time) against the int8
# peak; tg weight bytes/s (decode bytes x steps/s) against the bandwidth;
# llama.cpp's from the same counts at its speed.
jq -r '
def r(x; d): if x == null then "-" else (x * d | round) / d | tostring end;
.memory.memory.read_bytes_per_s as $bw | .memory.int8_peak_ops as $peak |
def bound($t; $tps; $d0; $db):
  if $tps == null then "-"
  elif $t.kind == "pp" then "\(r($t.gops * $tps / $t.tps; 1)) GOP/s, \(r(100 * $t.gops * 1e9 * $tps / $t.tps / $peak; 1))% int8"
  else "\(r($db * $tps / $t.seqs / 1e9; 10)) GB/s, \(r(100 * $db * $tps / $t.seqs / $bw; 1))% of read" +
       (if $d0 != null and $t.depth > 0 and ($t.batched | not) then ", \(r(100 * $tps / $d0; 1))% of d0" else "" end)
  end;
"bounds: read bandwidth \(r($bw / 1e9; 10)) GB/s (\(.memory.memory.loads) loads, \(.threads) threads, best pass);" +
" clock \(.memory.clock_mhz) MHz (\(.memory.clock_source)); int8 peak \(r($peak / 1e9; 1)) GOP/s (\(.memory.int8_peak))",
"",
"| line | weights | kv | agentmem t/s | llama.cpp t/s | ratio | agentmem bound | llama.cpp bound |",
"| --- | --- | --- | ---: | ---: | ---: | --- | --- |",
(.results[] | . as $r | $r.agentmem.decode_bytes as $db | ($r.llamacpp.tests // []) as $lt |
 $r.agentmem.tests[] | . as $t | select($r.group != "depth" or $t.depth > 0) |
 ([$lt[] | select(.test == $t.test)][0].tps) as $l |
 ([$r.agentmem.tests[] | select(.kind == "tg" and .depth == 0 and (.batched | not) and .n == $t.n)][0].tps) as $a0 |
 ([$lt[] | select(.kind == "tg" and .depth == 0 and (.batched | not) and .n == $t.n)][0].tps) as $l0 |
 "| \($t.test)\(if $r.group == "depth" and $t.kind == "pp" then " (extend)" else "" end) | \($r.agentmem.type) | \($r.kv) " +
 "| \(r($t.tps; 100)) | \(r($l; 100)) | \(if $l then r($t.tps / $l; 100) else "-" end) " +
 "| \(bound($t; $t.tps; $a0; $db)) | \(bound($t; $l; $l0; $db)) |"),
"",
(.results[0].llamacpp | if .ok then "llama.cpp: node-llama-cpp \(.version), prebuilt CPU library, \(.threads) threads, same GGUF files, same run"
 else "llama.cpp columns skipped: \(.error)" end),
(.results[0].llamacpp.error as $e0 | .results[1:][] | select((.llamacpp.ok | not) and .llamacpp.error != $e0) |
 "llama.cpp failed on the \(.group) lines (\(.wtype), KV \(.kv)): \(.llamacpp.error)"),
(if ([.results[] | .agentmem.type] | index("BF16")) then empty
 else "BF16: not measured (not in TYPES)" end),
"pp: one prefill of N tokens on top of d cached; tg: N decode steps after d cached (llama.cpp: timed from its first generated token); Sx: S sequences decoding together, aggregate t/s; mean of \(.reps) (pp/tg) or \(.depth_reps) (depth, seqs) runs"
' "$OUT/results.json"
bench_footer
echo "wrote $OUT/results.json" >&2
