#!/bin/sh
# tokenize / detokenize command lines: usage, exact output, round trips.
# Run from the repository root with $AGENTMEM set (tests/run.sh does).
set -u
A=${AGENTMEM:-build/agentmem}
NPM=tests/npm/node_modules/@lenml
L3=$NPM/tokenizer-llama3/models/tokenizer.json   # the real vocabulary (slow under ASan: few uses)
T3=tests/fixtures/models/llama3-tiny/tokenizer.json
fail=0
check() { # name expected actual
    if [ "$2" != "$3" ]; then echo "FAIL $1: expected [$2] got [$3]"; fail=1; else echo "ok   $1"; fi
}

$A tokenize --help > /dev/null; check "tokenize --help exits 0" 0 $?
$A detokenize --help > /dev/null; check "detokenize --help exits 0" 0 $?
$A tokenize "x" > /dev/null 2>&1; check "tokenize without --tokenizer is a usage error" 2 $?
$A tokenize --tokenizer $T3 --bogus x > /dev/null 2>&1; check "unknown option is a usage error" 2 $?
$A detokenize --tokenizer $T3 12x > /dev/null 2>&1; check "bad id is a usage error" 2 $?
$A tokenize --tokenizer /nonexistent x > /dev/null 2>&1; check "missing tokenizer fails" 1 $?

check "llama3 ids" "9906 1917" "$($A tokenize --tokenizer $L3 'Hello world')"
check "llama3 json" '{"ids":[9906,1917],"pieces":["Hello","Ġworld"]}' "$($A tokenize --tokenizer $L3 --json 'Hello world')"
check "special token parsed" "602 326 266 603" "$($A tokenize --tokenizer $T3 '<|start_header_id|>user<|end_header_id|>')"
ids=$($A tokenize --tokenizer $T3 --split-special '<|start_header_id|>')
check "--split-special: text, not the token" "<|start_header_id|> 13" \
    "$($A detokenize --tokenizer $T3 $ids) $(echo $ids | wc -w | tr -d ' ')"
check "detokenize exact, no newline" "Hello world" "$($A detokenize --tokenizer $L3 9906 1917)"
check "detokenize comma list" "Hello world" "$($A detokenize --tokenizer $T3 39,305,75,78,482,532)"
check "detokenize out of range fails" 1 "$($A detokenize --tokenizer $T3 999999 > /dev/null 2>&1; echo $?)"
check "GGUF gives the tokenizer.json ids" "$($A tokenize --tokenizer $T3 'Hello world')" \
    "$($A tokenize --tokenizer tests/fixtures/models/llama3-tiny/llama3-tiny-f16.gguf 'Hello world')"
check "GGUF --special adds its BOS" "600 39" "$($A tokenize --tokenizer tests/fixtures/models/llama3-tiny/llama3-tiny-f16.gguf --special H)"
check "tokenizer.model folder" "670 589 629 500" "$($A tokenize --tokenizer tests/fixtures/models/gemma3-tiny 'Hello world')"

# --text-file reads raw bytes, trailing newline included
tmp=${TMPDIR:-/tmp}/am_tok_$$
printf 'caf\303\251\n' > $tmp.txt
ids=$($A tokenize --tokenizer $T3 --text-file $tmp.txt)
$A detokenize --tokenizer $T3 $ids > $tmp.out
cmp -s $tmp.txt $tmp.out; check "text-file round trip" 0 $?
# invalid UTF-8 and NUL bytes round-trip byte for byte
printf 'a\377b\000c\300\n' > $tmp.bin
ids=$($A tokenize --tokenizer $T3 --text-file $tmp.bin)
$A detokenize --tokenizer $T3 $ids > $tmp.out
cmp -s $tmp.bin $tmp.out; check "invalid UTF-8 and NUL round trip" 0 $?
rm -f $tmp.txt $tmp.out $tmp.bin

# a Hugging Face folder: tokenizer_config.json decides BOS (DeepSeek V3 adds it)
check "deepseek folder --special adds BOS" "0 19923" "$($A tokenize --tokenizer $NPM/tokenizer-deepseek_v3/models --special Hello)"
check "deepseek tokenizer.json --special as HF tokenizers" "19923" "$($A tokenize --tokenizer $NPM/tokenizer-deepseek_v3/models/tokenizer.json --special Hello)"
# SentencePiece: the dummy-prefix space is stripped on decode, kept on request
L2=$NPM/tokenizer-llama2/models/tokenizer.json
check "llama2 ids" "22557 1526" "$($A tokenize --tokenizer $L2 'Hello world')"
check "llama2 decode strips prefix" "Hello world" "$($A detokenize --tokenizer $L2 22557 1526)"
check "llama2 decode keeps prefix" " Hello world" "$($A detokenize --tokenizer $L2 --keep-prefix-space 22557 1526)"
check "llama2 --special" "1 22557" "$($A tokenize --tokenizer $L2 --special Hello)"
exit $fail
