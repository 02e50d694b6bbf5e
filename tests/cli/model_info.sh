#!/bin/sh
# `agentmem model info`: describes every fixture form, refuses junk with exit 1,
# answers --help with 0 and usage errors with 2.
set -u
A=${AGENTMEM:-build/agentmem}
M=tests/fixtures/models
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }

check '$A model --help | grep -q "model info PATH"'
check '$A model info --help >/dev/null'
$A model >/dev/null 2>&1; check '[ $? = 2 ]'
$A model info >/dev/null 2>&1; check '[ $? = 2 ]'
$A model info --bogus x >/dev/null 2>&1; check '[ $? = 2 ]'
$A model info /nonexistent.gguf >/dev/null 2>&1; check '[ $? = 1 ]'
$A model info $M/README.md >/dev/null 2>&1; check '[ $? = 1 ]'

out=$($A model info $M/gemma3-tiny/gemma3-tiny-q4_k_m.gguf)
check 'echo "$out" | grep -q "^architecture *gemma3"'
check 'echo "$out" | grep -q "q6_k×"'
check 'echo "$out" | grep -q "^chat template *yes"'
check 'echo "$out" | grep -q "^tokenizer *yes (700 tokens)"'
out=$($A model info --json $M/qwen3-tiny)
check 'echo "$out" | grep -q "\"architecture\": \"qwen3\""'
check 'echo "$out" | grep -q "\"BF16\": "'
check 'echo "$out" | grep -q "\"tied_embeddings\": true"'
for f in $M/*-tiny/*.gguf; do
    $A model info "$f" >/dev/null || { echo "FAILED: $f"; fail=1; }
done
exit $fail
