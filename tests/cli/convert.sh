#!/bin/sh
# agentmem convert: every fixture HF folder in every type, checked against
# references the converter does not make — llama.cpp's own GGUF files of the
# same folders (keys, values, tensor names, shapes, type mix; read by
# tests/gguf_dump.js, not by agentmem), HF transformers' golden logits and
# the folder loaded directly — plus tokenization and chat templates of the
# GGUF against the folder's, `model info` round trips, and hostile folders
# (exit 1, OUT untouched).
set -u
# f32 activations throughout: the folder (bf16 weights) is compared with its
# f16 conversion within 1e-4, which bf16-rounded prefill activations
# (AGENTMEM_BF16_ACT, ~4e-3) would swamp; engine.sh checks that path.
export AGENTMEM_BF16_ACT=0
A=${AGENTMEM:-build/agentmem}
AABS=$(cd "$(dirname "$A")" && pwd)/$(basename "$A")
M=tests/fixtures/models
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }
ids() { jq -r "$2|join(\" \")" "$M/$1/golden.json"; }
dump() { node tests/gguf_dump.js "$1"; }
# worst relative error of logits(model) against a reference file
rel() { $A logits --model "$1" --ids "$2" --compare "$3" --max-rel 1 2>&1 | sed -n 's/.*worst rel \([0-9.e+-]*\).*/\1/p'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && a + 0 <= b + 0) }'; }

check '$A convert --help | grep -q "^usage: agentmem convert"'
$A convert >/dev/null 2>&1; check '[ $? = 2 ]'
$A convert $M/qwen2-tiny >/dev/null 2>&1; check '[ $? = 2 ]'
$A convert $M/qwen2-tiny $T/x.gguf --type q5_1 >/dev/null 2>&1; check '[ $? = 2 ]'
$A convert $M/qwen2-tiny $T/x.gguf --bogus >/dev/null 2>&1; check '[ $? = 2 ]'

for m in llama3-tiny qwen2-tiny qwen3-tiny gemma3-tiny; do
    I=$(ids $m .input_ids)
    $A logits --model $M/$m --ids "$I" --out $T/hf.f32
    for t in f16 bf16 q8_0 q4_0 q4_k; do
        g=$T/$m-$t.gguf
        $A convert $M/$m $g --type $t --threads 2 --quiet; check '[ $? = 0 ] && [ -s $g ]'
        ref=$t; [ $t = q4_k ] && ref=q4_k_m; [ $t = bf16 ] && ref=f16
        # Keys and tensors as llama.cpp writes them for this folder and type.
        # Bugs: a dropped or renamed metadata key, tensors in another order,
        # shape or type (a wrong Q4_K_M mix), a tied model given output.weight.
        # Allowed differences: general.alignment (llama.cpp omits the default),
        # add_bos/add_eos written out (llama.cpp leaves the gpt2 default, which
        # adds a BOS the HF tokenizer does not), eot = config.json's eos when
        # it is none of the tokenizer's, user-defined SentencePiece pieces
        # keeping their type (llama.cpp demotes them to normal), bf16 files
        # (llama.cpp's is f16: type 1 vs 30, file type 1 vs 32), tensor order.
        skip='general.alignment |tokenizer.ggml.add_bos_token |tokenizer.ggml.add_eos_token |tokenizer.ggml.eot_token_id '
        [ $m = gemma3-tiny ] && skip="$skip|tokenizer.ggml.token_type "
        [ $t = bf16 ] && skip="$skip|general.file_type "
        dump $M/$m/$m-$ref.gguf | grep -Ev "^K ($skip)" | sort > $T/want
        dump $g | grep -Ev "^K ($skip)" | sort > $T/got
        [ $t = bf16 ] && sed -i 's/^\(T .*\) 1$/\1 30/' $T/want
        check 'cmp -s $T/want $T/got || { diff $T/want $T/got | head -5; false; }'
        # Logits. f16/bf16 against the folder itself: bf16 is the folder's
        # own bits (bit-equal where no rope permutation reorders the q.k sums,
        # llama within 1e-4); f16 rounds each bf16 weight once (<= 1e-4).
        # Bugs: swapped or unpermuted llama Q/K rows, a missing gemma +1,
        # biases or q/k norms taken from another layer.
        r=$(rel $g "$I" $T/hf.f32)
        case $m-$t in
        llama3-tiny-bf16|*-f16) check 'le "$r" 1e-4' ;;
        *-bf16) check 'le "$r" 0' ;;
        esac
        # Quantized: against HF transformers' goldens, no worse than 1.25x the
        # error of llama.cpp's own file of that type (q4_k: its Q4_K_M).
        # Bugs: a quantizer given the wrong rows, or a wrong type mix.
        if [ $t != f16 ] && [ $t != bf16 ]; then
            r=$(rel $g "$I" $M/$m/golden_logits.f32)
            lc=$(rel $M/$m/$m-$ref.gguf "$I" $M/$m/golden_logits.f32)
            bound=$(awk -v x="$lc" 'BEGIN { print 1.25 * x }')
            check 'le "$r" "$bound"'
            echo "$m $t: rel $r vs golden (llama.cpp's $ref: $lc)"
        fi
    done
    # The file does not depend on the thread count. Bug: rows converted by
    # one thread landing in another's slots, or a chunk split that skips rows.
    $A convert $M/$m $T/t1.gguf --type q4_k --threads 1 --quiet
    # (from inside the folder: "." is named by its real name, as llama.cpp names it)
    (cd $M/$m && $AABS convert . $T/t3.gguf --type q4_k --threads 3 --quiet)
    check 'cmp -s $T/t1.gguf $T/$m-q4_k.gguf && cmp -s $T/t3.gguf $T/$m-q4_k.gguf'
    rm -f $T/t1.gguf $T/t3.gguf
    g=$T/$m-f16.gguf
    # model info round trip: the GGUF describes the same model as the folder
    # (rope_style differs by construction: GGUF llama is permuted for NORM
    # rope; bos/eos are the tokenizer's in GGUF, config.json's in the folder).
    # Bug: a dropped hparam key (rope.freq_base, sliding_window, head_count_kv...).
    hp='.hparams | del(.rope_style, .bos_id, .eos_id)'
    check '[ "$($A model info $M/$m --json | jq -c "$hp")" = "$($A model info $g --json | jq -c "$hp")" ]'
    # Tokenization, with and without special tokens, and the chat template.
    # Bugs: add_bos/add_eos left to the GGUF default, a wrong .pre, dropped
    # merges or scores, a chat template not copied.
    for s in "Hello world" " It's 2024: 12345 tokens\n\n  ok" "<|im_start|>user hi<|im_end|>" "<start_of_turn>user"; do
        for f in "" --special; do
            check '[ "$($A tokenize --tokenizer $M/$m $f "$s")" = "$($A tokenize --tokenizer $g $f "$s")" ]'
        done
    done
    printf '[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello"},{"role":"assistant","content":"Hi!"},{"role":"user","content":"Bye"}]' > $T/chat.json
    [ $m = gemma3-tiny ] && printf '[{"role":"user","content":"Hello"},{"role":"assistant","content":"Hi!"},{"role":"user","content":"Bye"}]' > $T/chat.json
    # The prompt equals llama.cpp's file's and, but for gemma3-tiny, the
    # folder's: its tokenizer_config.json names the BOS "<bos>", a string its
    # tokenizer.model spells "<s>" (id 2); a GGUF names tokens by the
    # vocabulary's spelling, as llama.cpp's file does.
    tp() { $A template --model "$1" --messages $T/chat.json --add-generation-prompt | od -c; }
    check '[ "$(tp $g)" = "$(tp $M/$m/$m-f16.gguf)" ]'
    [ $m = gemma3-tiny ] || check '[ "$(tp $g)" = "$(tp $M/$m)" ]'
    rm -f $T/$m-*.gguf
done

# Hostile folders: exit 1 with a message, OUT as it was (absent, or the old
# file byte for byte). Bug: OUT written before the input is fully checked,
# or a partial file left on a failure.
mk() { rm -rf $T/bad; mkdir $T/bad; cp $M/qwen2-tiny/*.json $T/bad/; cp $M/qwen2-tiny/model.safetensors $T/bad/; }
mk; head -c 100000 $M/qwen2-tiny/model.safetensors > $T/bad/model.safetensors
$A convert $T/bad $T/out.gguf --quiet 2>$T/err; check '[ $? = 1 ] && [ ! -e $T/out.gguf ] && [ -s $T/err ]'
mk; jq '.hidden_size = 512' $M/qwen2-tiny/config.json > $T/bad/config.json
$A convert $T/bad $T/out.gguf --quiet 2>$T/err; check '[ $? = 1 ] && [ ! -e $T/out.gguf ] && grep -q shape $T/err'
mk; jq '.vocab_size = 100000000' $M/qwen2-tiny/config.json > $T/bad/config.json
$A convert $T/bad $T/out.gguf --quiet 2>/dev/null; check '[ $? = 1 ] && [ ! -e $T/out.gguf ]'
mk; rm $T/bad/tokenizer.json
$A convert $T/bad $T/out.gguf --quiet 2>/dev/null; check '[ $? = 1 ] && [ ! -e $T/out.gguf ]'
mk; printf 'not json' > $T/bad/tokenizer.json
echo old > $T/out.gguf
$A convert $T/bad $T/out.gguf --quiet 2>/dev/null; check '[ $? = 1 ] && [ "$(cat $T/out.gguf)" = old ]'
$A convert $T/nonexistent $T/out.gguf --quiet 2>/dev/null; check '[ $? = 1 ] && [ "$(cat $T/out.gguf)" = old ]'
$A convert $M/qwen2-tiny/qwen2-tiny-f16.gguf $T/out.gguf --quiet 2>/dev/null; check '[ $? = 1 ]'
$A convert $M/qwen2-tiny $T/no/such/dir/out.gguf --quiet 2>/dev/null; check '[ $? = 1 ]'
check '[ "$(ls $T | grep -v "^bad$\|^err$\|^hf.f32$\|^want$\|^got$\|^chat.json$")" = out.gguf ]'

[ $fail = 0 ] && echo ok
exit $fail
