#!/bin/sh
# bench/quality.sh — what weight and KV quantization cost the default model:
# `agentmem perplexity` on its held-out text (train/corpus.py's heldout.txt,
# never trained on) for weights f16 / q8_0 / q4_0 / q4_k (`agentmem convert`
# of the trained Hugging Face folder) x KV f16 / q8_0 / q4_0, in 512- and
# 2048-token chunks (llama.cpp's method: each chunk scored on its second
# half), with a 95% confidence interval from a bootstrap over chunks, the
# change against f16 KV of the same weights (paired: the same chunks
# resampled), and the Hugging Face transformers reference perplexity (float32,
# computed on the GPU machine by train/train.py over the same token ids).
# Prints a table (bench/quality_report.mjs), writes bench/out/quality.json.
#
# Environment:
#   HF (train/out/model/agentmem-default: the trained folder, with golden.json),
#   HELDOUT (train/out/corpus/heldout.txt; `python3 train/corpus.py` makes it),
#   TYPES ("f16 q8_0 q4_0 q4_k"), KVS ("f16 q8_0 q4_0"), CTXS ("512 2048"),
#   TOKENS (65536: the first TOKENS ids of the held-out text; 0: all of it),
#   THREADS (2), BUILD (build).
set -e
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
HF=${HF:-train/out/model/agentmem-default}
HELDOUT=${HELDOUT:-train/out/corpus/heldout.txt}
TYPES=${TYPES:-"f16 q8_0 q4_0 q4_k"}
KVS=${KVS:-"f16 q8_0 q4_0"}
CTXS=${CTXS:-"512 2048"}
TOKENS=${TOKENS:-65536}
THREADS=${THREADS:-2}
AM="$BUILD/agentmem"
OUT=bench/out
. bench/lib.sh
[ -f "$HF/golden.json" ] || { echo "bench/quality.sh: no trained folder at $HF (train/train.py makes it)" >&2; exit 1; }
[ -f "$HELDOUT" ] || { echo "bench/quality.sh: no held-out text at $HELDOUT (python3 train/corpus.py)" >&2; exit 1; }
make -s -j2 BUILD="$BUILD" "$AM"
mkdir -p "$OUT"
cmd="HF=$HF TYPES=\"$TYPES\" KVS=\"$KVS\" CTXS=\"$CTXS\" TOKENS=$TOKENS THREADS=$THREADS"
bench_header bench/quality.sh "$cmd"

# The held-out documents joined by blank lines, tokenized without BOS: the ids
# train.py's reference perplexity was computed on.
tmp=$(mktemp -d /tmp/am-quality-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
node -e 'const fs = require("fs");
const d = fs.readFileSync(process.argv[1], "utf8").split("\n\x1e\n").map((x) => x.replace(/^\n+|\n+$/g, "")).filter((x) => x.trim());
fs.writeFileSync(process.argv[2], d.join("\n\n"));' "$HELDOUT" "$tmp/heldout.txt"
"$AM" tokenize --tokenizer "$HF" --text-file "$tmp/heldout.txt" >"$tmp/all.ids"
if [ "$TOKENS" -gt 0 ]; then tr ' ' '\n' <"$tmp/all.ids" | head -n "$TOKENS" | tr '\n' ' ' >"$tmp/ids"; else cp "$tmp/all.ids" "$tmp/ids"; fi
echo "held-out ids: $(wc -w <"$tmp/all.ids") (using $(wc -w <"$tmp/ids"))"

rows=""
for t in $TYPES; do
    g="$OUT/default-$t.gguf"
    if [ ! -f "$g" ] || [ "$g" -ot "$HF/model.safetensors" ]; then
        echo "convert: $t..." >&2
        "$AM" convert "$HF" "$g" --type "$t" --quiet
    fi
    for kv in $KVS; do
        for c in $CTXS; do
            echo "perplexity: weights $t, kv $kv, $c-token chunks..." >&2
            s=$(date +%s)
            "$AM" perplexity --model "$g" --ids-file "$tmp/ids" --ctx "$c" --batch "$c" --kv "$kv" --threads "$THREADS" >"$tmp/out" 2>&1 ||
                { cat "$tmp/out" >&2; exit 1; }
            e=$(($(date +%s) - s))
            # the running estimates "[k]ppl,..." give each chunk's mean NLL
            est=$(grep -o '\[[0-9]*\][0-9.]*' "$tmp/out" | sed 's/^\[[0-9]*\]//' | tr '\n' ',' | sed 's/,$//')
            rows="$rows${rows:+, }{\"type\": \"$t\", \"kv\": \"$kv\", \"ctx\": $c, \"seconds\": $e, \"running\": [$est], \"bytes\": $(wc -c <"$g")}"
        done
    done
done
json="$OUT/quality.json"
{
    echo "{$(bench_json_head "$cmd bench/quality.sh"), \"hf\": \"$HF\", \"tokens\": $(wc -w <"$tmp/ids"), \"rows\": [$rows],"
    echo " \"reference\": $(node -e 'const g = require(require("path").resolve(process.argv[1])); console.log(JSON.stringify(g.heldout_perplexity || null));' "$HF/golden.json")}"
} >"$json"
node bench/quality_report.mjs "$json"
bench_footer
echo "wrote $json"
