#!/bin/sh
# The small things a new user trips on: bench rows printed as measured and
# llama-bench's spellings, bench on a Hugging Face folder, AGENTMEM_LOG=debug,
# AGENTMEM_ISA in any case, empty or non-JSON tokenizer.json, mkmodel's
# BOS/EOS with a vocabulary of another family, model info on a truncated
# tokenizer.json, aligned --help. Each check names the bug it is for.
set -u
A=${AGENTMEM:-build/agentmem}
F=tests/fixtures/models
T=$(mktemp -d)
trap 'kill $bp 2>/dev/null; rm -rf "$T"' EXIT
bp=
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }
"$A" mkmodel --shape tiny --type q8_0 --quiet "$T/m.gguf"
M="$T/m.gguf"

# bug: bench printed its table only at the end (318 s of silence on 8B).
# The pp row must be in the output while a long tg test is still running.
"$A" bench -m "$M" -t 1 -p 8 -n 65536 -r 1 > "$T/rows" 2>&1 &
bp=$!
seen=0
for i in $(seq 1 300); do
    grep -q "| *pp8 |" "$T/rows" && { seen=1; break; }
    kill -0 $bp 2>/dev/null || break
    sleep 0.1
done
check '[ $seen = 1 ] && kill -0 $bp 2>/dev/null'
kill $bp 2>/dev/null; wait $bp 2>/dev/null; bp=
# bug: llama-bench's -p -n -r -o were unknown
"$A" bench -m "$M" -p 8 -n 2 -r 1 -o json > "$T/j" 2>/dev/null; check '[ $? = 0 ]'
check 'jq -e ".pp8 > 0 and .tg2 > 0 and .reps == 1" "$T/j" > /dev/null'
"$A" bench -m "$M" -p 0 -n 2 -r 2 -o md > "$T/md" 2>/dev/null; check '[ $? = 0 ]'
check 'grep -q "| *tg2 |" "$T/md" && ! grep -q "pp" "$T/md"'

# bug: bench on a Hugging Face folder reported 0 parameters and a
# lower-case type. Reference: the products of the shapes in the safetensors
# header, read with od and jq.
st=$F/llama3-tiny/model.safetensors
hl=$(od -An -t u8 -N 8 "$st" | tr -d ' ')
want=$(dd if="$st" bs=1 skip=8 count="$hl" 2>/dev/null |
       jq '[to_entries[] | select(.key != "__metadata__") | .value.shape | reduce .[] as $d (1; . * $d)] | add')
dtype=$(dd if="$st" bs=1 skip=8 count="$hl" 2>/dev/null |
        jq -r '[to_entries[] | select(.key | test("q_proj")) | .value.dtype][0]')
"$A" bench -m $F/llama3-tiny -p 4 -n 1 -r 1 -o json > "$T/hf.json" 2>/dev/null; check '[ $? = 0 ]'
check '[ "$(jq .params "$T/hf.json")" = "$want" ] && [ "$want" -gt 0 ]'
check '[ "$(jq -r .type "$T/hf.json")" = "$dtype" ]'

# bug: AGENTMEM_LOG=debug printed nothing more than the default
"$A" run --model "$M" --ids "1 2" -n 2 > /dev/null 2> "$T/info"
AGENTMEM_LOG=debug "$A" run --model "$M" --ids "1 2" -n 2 > /dev/null 2> "$T/debug"
check '[ $(grep -c "^agentmem debug: " "$T/debug") -ge 2 ] && ! grep -q "debug" "$T/info"'
AGENTMEM_LOG=error "$A" bench -m "$M" -p 4 -n 1 -r 1 > /dev/null 2> "$T/err"; check '[ ! -s "$T/err" ]'

# bug: AGENTMEM_ISA=AVX2 was "unknown" for its case
for isa in SCALAR Scalar scalar; do
    AGENTMEM_ISA=$isa "$A" --version > "$T/v" 2> "$T/err"
    check '[ "$(sed -n "s/^isa: //p" "$T/v")" = scalar ] && ! grep -q unknown "$T/err"'
done
AGENTMEM_ISA=AVX2 "$A" run --model "$M" --ids 1 -n 1 > /dev/null 2> "$T/err"; check '! grep -q "unknown level" "$T/err"'

# bug: an empty or non-JSON tokenizer.json gave a protobuf error
: > "$T/empty.json"
echo 'not json at all' > "$T/bad.json"
for f in empty bad; do
    "$A" tokenize --tokenizer "$T/$f.json" hi > /dev/null 2> "$T/err"; check '[ $? = 1 ]'
    check '! grep -qi protobuf "$T/err" && grep -qi "json\|empty" "$T/err"'
done

# bug: model info said "tokenizer yes" for a truncated tokenizer.json; now
# "no" with the loader's reason, and "yes" for the whole file
mkdir "$T/hf"
cp $F/llama3-tiny/config.json $F/llama3-tiny/model.safetensors "$T/hf/"
head -c 2000 $F/llama3-tiny/tokenizer.json > "$T/hf/tokenizer.json"
"$A" model info "$T/hf" > "$T/info" 2>&1; check '[ $? = 0 ]'
check 'grep -q "^tokenizer  *no" "$T/info"'
check '[ "$("$A" model info "$T/hf" --json | jq .tokenizer)" = false ]'
cp $F/llama3-tiny/tokenizer.json "$T/hf/"
check '[ "$("$A" model info "$T/hf" --json | jq .tokenizer)" = true ]'

# bug: mkmodel --shape gemma3-1b --vocab <Llama 3 tokenizer.json> wrote BOS
# and EOS ids of -1: they are the vocabulary's own <|begin_of_text|> and
# <|eot_id|>, read here from the tokenizer.json with jq
tj=$F/llama3-tiny/tokenizer.json
bos=$(jq '.added_tokens[] | select(.content == "<|begin_of_text|>") | .id' $tj)
eos=$(jq '.added_tokens[] | select(.content == "<|eot_id|>") | .id' $tj)
"$A" mkmodel --shape gemma3-1b --type q4_0 --quiet --vocab $tj "$T/g.gguf"; check '[ $? = 0 ]'
"$A" model info "$T/g.gguf" --json > "$T/g.json"
rm -f "$T/g.gguf"
check '[ -n "$bos" ] && [ "$(jq .hparams.bos_id "$T/g.json")" = "$bos" ]'
check '[ -n "$eos" ] && [ "$(jq .hparams.eos_id "$T/g.json")" = "$eos" ]'

# bug: run --help's option descriptions were misaligned (two columns). Every
# description and continuation line starts in one column.
for c in run logits perplexity bench; do
    cols=$("$A" $c --help | awk '
        /^  -/ { if (match($0, /^  [^ ].*[^ ]  +[^ ]/)) { s = substr($0, 1, RLENGTH - 1); print length(s) } ; next }
        /^      +[^ ]/ && seen { match($0, /^ +/); print RLENGTH }
        /^  -/ { seen = 1 }' | sort -u | wc -l)
    check "[ $cols = 1 ] || { echo '$c --help: $cols columns'; false; }"
done
exit $fail
