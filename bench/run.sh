#!/bin/sh
# bench/run.sh — the issue's benchmark: Llama-3.2-1B-shaped synthetic models
# (agentmem mkmodel --shape llama-1b) in Q4_0, Q8_0 and F16, prompt processing
# (pp512) and generation (tg128) with 2 threads, agentmem (`agentmem bench`)
# and llama.cpp (node-llama-cpp, bench/llamacpp.mjs) on the same GGUF files in
# the same run. Builds if needed, generates the models into bench/out/ once,
# prints a table, writes bench/out/results.json. When node-llama-cpp is not
# installed (cd bench && npm install) or fails, its columns are "-" with a note.
#
# Environment: BUILD (build dir, default build), THREADS (2), REPS (3),
# TYPES ("q4_0 q8_0 f16"), PP (512) and TG (128), SHAPE (llama-1b),
# LLAMACPP (1; 0 skips llama.cpp), DRY (1: the estimate only).
# Quick check: SHAPE=tiny REPS=1 PP=64 TG=16 bench/run.sh
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
THREADS=${THREADS:-2}
REPS=${REPS:-3}
TYPES=${TYPES:-"q4_0 q8_0 f16"}
PP=${PP:-512}
TG=${TG:-128}
SHAPE=${SHAPE:-llama-1b}
AM="$BUILD/agentmem"
OUT=bench/out
. bench/lib.sh

make -s -j2 BUILD="$BUILD" "$AM"
mkdir -p "$OUT"
cmd="THREADS=$THREADS REPS=$REPS TYPES=\"$TYPES\" PP=$PP TG=$TG SHAPE=$SHAPE LLAMACPP=${LLAMACPP:-1}"
bench_header bench/run.sh "$cmd"
flags=$(grep -m 1 '^flags' /proc/cpuinfo)
isa=""
for f in avx2 avx512f avx512_vnni avx512_bf16; do
    case " $flags " in *" $f "*) isa="$isa $f" ;; esac
done
# Estimate: per type and engine, a warm-up, then REPS x (PP at ~150 tok/s +
# TG at ~30 tok/s for Q4_0, slower for the bigger types).
est=0
for t in $TYPES; do
    case $t in f16) k=3 ;; q8_0) k=2 ;; *) k=1 ;; esac
    est=$((est + 2 * (5 + REPS * (PP / 150 + k * TG / 30))))
done
echo "estimate: about $(fmt_min "$est") (agentmem and llama.cpp, $REPS reps each)"
BENCH_EST=$est
[ "${DRY:-0}" = 1 ] && exit 0 # DRY=1: the header and the estimate only

num() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p"; }
rows=""
json=""
lnote=""
for t in $TYPES; do
    MODEL="$OUT/$SHAPE-$t.gguf"
    [ -f "$MODEL" ] || "$AM" mkmodel --shape "$SHAPE" --type "$t" --seed 1 --quiet "$MODEL"
    echo "agentmem bench: $MODEL ($THREADS threads, $REPS reps)..." >&2
    line=$("$AM" bench --model "$MODEL" --threads "$THREADS" --reps "$REPS" --pp "$PP" --tg "$TG" --json)
    echo "llama.cpp (node-llama-cpp): $MODEL..." >&2
    ll=$(THREADS=$THREADS REPS=$REPS PP=$PP TG=$TG TTFT="" llamacpp_json)
    json="$json${json:+,
    }{\"agentmem\": $line, \"llamacpp\": $ll}"
    pp=$(echo "$line" | num "pp$PP")
    tg=$(echo "$line" | num "tg$TG")
    size=$(echo "$line" | num size)
    lpp=$(echo "$ll" | num pp)
    ltg=$(echo "$ll" | num tg)
    case $ll in
    '{"ok":true'*) lnote="llama.cpp: node-llama-cpp $(echo "$ll" | sed -n 's/.*"version":"\([^"]*\)".*/\1/p'), prebuilt CPU library, $THREADS threads, same GGUF files, same run" ;;
    *) lpp=-; ltg=-; lnote="llama.cpp columns skipped: $(echo "$ll" | sed -n 's/.*"error": *"\([^"]*\)".*/\1/p')" ;;
    esac
    rpp=$(awk -v a="$pp" -v b="$lpp" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else printf "-" }')
    rtg=$(awk -v a="$tg" -v b="$ltg" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else printf "-" }')
    mib=$(awk "BEGIN { printf \"%.0f\", $size / 1048576 }")
    rows="$rows$(printf '| %-5s | %8s MiB | %9s | %9s | %9s | %9s | %7s | %7s |' "$t" "$mib" "$pp" "$tg" "$lpp" "$ltg" "$rpp" "$rtg")
"
done

printf '\nagentmem vs llama.cpp, %s shape, %s threads, %s reps, isa:%s\n\n' "$SHAPE" "$THREADS" "$REPS" "$isa"
printf '| type  |      weights | %9s | %9s | llama %-3s | llama %-3s | pp/llama | tg/llama |\n' "pp$PP t/s" "tg$TG t/s" "pp" "tg"
printf '| ----- | -----------: | --------: | --------: | --------: | --------: | ------: | ------: |\n'
printf '%s' "$rows"
echo "$lnote"
echo "pp: one $PP-token prefill; tg: $TG decode steps (llama.cpp: timed from its first generated token to the last); mean of $REPS"

cat > "$OUT/results.json" <<JSON
{
  $(bench_json_head "$cmd bench/run.sh"),
  "isa": "$(echo $isa)",
  "threads": $THREADS,
  "reps": $REPS,
  "results": [
    $json
  ]
}
JSON
bench_footer
echo "wrote $OUT/results.json" >&2
