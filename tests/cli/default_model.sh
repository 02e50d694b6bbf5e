#!/bin/sh
# The shipped default model (models/default.gguf, docs/MODEL.md) against what
# Hugging Face transformers computed for the trained folder it was converted
# from (tests/fixtures/models/agentmem-default/golden.json: float32 from the
# bf16 weights, on the GPU machine), and its greedy answers pinned.
#  - logits within the Q8_0 weights' error of the goldens (a converter that
#    permutes or drops a tensor, or an engine change, lands far outside);
#  - greedy ids equal transformers' generate(), for raw ids and for the four
#    chat questions whose prompts transformers' apply_chat_template made
#    (the template and the tokenizer carried into the GGUF must give those
#    prompt ids exactly, and generation must stop at <|end|>);
#  - three fixed prompts' greedy text pinned: the shipped file, its tokenizer
#    or the kernels must not change it silently;
#  - `agentmem serve` without --model serves it (the README's first command).
set -u
A=${AGENTMEM:-build/agentmem}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
D=$ROOT/models/default.gguf
G=$ROOT/tests/fixtures/models/agentmem-default
T=${TMPDIR:-/tmp}/agentmem-default-$$
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }
ids() { jq -r "$1|join(\" \")" "$G/golden.json"; }

# the shipped file: the issue's size bound, the trained shape
check '[ $(wc -c < "$D") -le 41943040 ]'
info=$($A model info "$D")
check 'echo "$info" | grep -q "n_vocab *8192"'
check 'echo "$info" | grep -q "n_layer *8"'
check 'echo "$info" | grep -q "q8_0×57"'

# logits: Q8_0 weights against the float32 goldens (measured worst 2.0e-2 / 1.5e-2)
out=$($A logits --model "$D" --ids "$(ids .input_ids)" --compare "$G/golden_logits.f32" --max-rel 3e-2)
check '[ $? = 0 ]'; echo "default q8_0 input_ids: $out"
check 'echo "$out" | grep -Eq "top-1 (4[6-8])/48"'
out=$($A logits --model "$D" --ids "$(ids .long.input_ids)" --chunk 64 --compare "$G/golden_logits_long_last8.f32" --max-rel 3e-2)
check '[ $? = 0 ]'; echo "default q8_0 long: $out"
out=$($A logits --model "$D" -c 4096 --ids "$(ids .offset_positions.input_ids)" --start-pos 3000 \
      --compare "$G/golden_logits_pos3000.f32" --max-rel 5e-2 2>/dev/null)
check '[ $? = 0 ]'; echo "default q8_0 pos3000: $out"
# the bound is not loose: a far reference fails it
$A logits --model "$D" --ids "$(ids .input_ids)" --compare "$G/golden_logits_long_last8.f32" --max-rel 3e-2 >/dev/null 2>&1
check '[ $? != 0 ]'

# the tokenizer in the GGUF: the goldens' 48 ids are the start of this text with BOS
text='The harbor was quiet in the early morning, and the boats rested on the calm water while the fishermen prepared their nets for a long day at sea. A gentle wind came from the hills, carrying the smell of bread from the village, and the first gulls began to call.'
got=$($A tokenize --tokenizer "$D" --special "$text" | tr ' ' '\n' | head -n 48 | tr '\n' ' ' | sed 's/ $//')
check '[ "$got" = "$(ids .input_ids)" ]'

# greedy generation equals transformers' generate()
got=$($A run --model "$D" --ids "$(ids .greedy.prompt_ids)" -n 24 --ignore-eos 2>/dev/null)
check '[ "$got" = "$(ids .greedy.generated_ids)" ]'
n=$(jq '.chat_probes|length' "$G/golden.json")
check '[ "$n" = 4 ]'
i=0
while [ "$i" -lt "$n" ]; do
    q=$(jq -r ".chat_probes[$i].user" "$G/golden.json")
    # the prompt as our template and tokenizer make it = transformers' apply_chat_template ids
    jq -n --arg q "$q" '[{"role": "user", "content": $q}]' >"$T/m.json"
    $A template --model "$D" --messages "$T/m.json" --add-generation-prompt >"$T/p.txt"
    got=$($A tokenize --tokenizer "$D" --text-file "$T/p.txt")
    check '[ "$got" = "$(ids .chat_probes[$i].prompt_ids)" ]'
    # its greedy answer, which ends at <|end|> (id 5): generate() includes it, `run` stops there
    got=$($A run --model "$D" --ids "$(ids .chat_probes[$i].prompt_ids)" -n 40 2>/dev/null)
    want=$(ids ".chat_probes[$i].generated_ids" | sed 's/ 5$//')
    check '[ "$got" = "$want" ]'
    i=$((i + 1))
done

# pinned greedy text of three fixed prompts
got=$($A run --model "$D" -p "The river" -n 24 2>/dev/null)
check '[ "$got" = " of a river, a stream of water, or a stream of water, as a stream of water, or the current" ]'
got=$($A run --model "$D" --chat "What is a river?" -n 40 2>/dev/null)
check '[ "$got" = "As a noun, \"south\" means: A large area of land (especially in the United States) where a ship is in the water." ]'
got=$($A run --model "$D" --chat "What does \"music\" mean?" --system "You explain English words." -n 40 2>/dev/null)
check '[ "$got" = "As a noun, \"music\" means: A musical composition, or a musical composition, of the Greek alphabet, used as a symbol of the Greek alphabet." ]'

# serve without --model: the default model, found from the binary's location
"$A" serve --port 0 --threads 2 --cache-dir "$T/cache" >"$T/serve.log" 2>&1 &
PID=$!
URL=
i=0
while [ $i -lt 300 ] && [ -z "$URL" ] && kill -0 $PID 2>/dev/null; do
    URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$T/serve.log" | head -n 1)
    sleep 0.1
    i=$((i + 1))
done
check '[ -n "$URL" ]'
if [ -n "$URL" ]; then
    check 'grep -q "model=default" "$T/serve.log"'
    r=$(curl -s "$URL/v1/chat/completions" -H 'content-type: application/json' \
        -d '{"messages":[{"role":"user","content":"What is the meaning of kettle?"}],"max_tokens":40,"temperature":0}')
    c=$(echo "$r" | jq -r '.choices[0].message.content')
    check '[ "$c" = "As a noun, \"kettle\" means: A small, strong, heavy vessel, usually with a long handle, used for the table." ]'
    check '[ "$(echo "$r" | jq -r .choices[0].finish_reason)" = stop ]'
fi
kill -TERM $PID 2>/dev/null
wait $PID
check '[ $? = 0 ]'
exit $fail
