#!/bin/sh
# `agentmem template`: the prompt exactly as transformers renders it, from a
# Hugging Face folder, a GGUF file, a tokenizer_config.json and a template
# file; --help 0, usage errors 2, template errors 1 with the message.
set -u
A=${AGENTMEM:-build/agentmem}
M=tests/fixtures/models
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }

check '$A template --help | grep -q -- "--messages"'
$A template >/dev/null 2>&1; check '[ $? = 2 ]'
$A template --bogus >/dev/null 2>&1; check '[ $? = 2 ]'
$A template --template x.jinja >/dev/null 2>&1; check '[ $? = 2 ]'
$A template --template x --model y --messages z >/dev/null 2>&1; check '[ $? = 2 ]'
$A template --template x --messages z --now yesterday >/dev/null 2>&1; check '[ $? = 2 ]'

printf '[{"role": "user", "content": "Hello"}]' > "$T/m.json"
# transformers' apply_chat_template for Llama 3.1's template (golden.json, "single")
printf '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n' > "$T/want"
$A template --model $M/llama3-tiny --messages "$T/m.json" --add-generation-prompt > "$T/hf"
check 'cmp -s "$T/hf" "$T/want"'
$A template --model $M/llama3-tiny/llama3-tiny-q8_0.gguf --messages "$T/m.json" --add-generation-prompt > "$T/gguf"
check 'cmp -s "$T/gguf" "$T/want"'
$A template --tokenizer-config $M/llama3-tiny/tokenizer_config.json --messages "$T/m.json" --add-generation-prompt > "$T/cfg"
check 'cmp -s "$T/cfg" "$T/want"'

# Qwen3 with thinking switched off, a caller variable
printf '<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n' > "$T/want"
$A template --model $M/qwen3-tiny --messages "$T/m.json" --add-generation-prompt --var enable_thinking=false > "$T/q"
check 'cmp -s "$T/q" "$T/want"'

# a template file, bos/eos given, a fixed clock, tools
printf '{{ bos_token }}{{ strftime_now("%%Y-%%m-%%d") }}{{ tools|length }}{{ messages[0].content }}{{ eos_token }}' > "$T/t.jinja"
printf '[{"type": "function", "function": {"name": "f"}}]' > "$T/tools.json"
out=$($A template --template "$T/t.jinja" --messages "$T/m.json" --tools "$T/tools.json" --bos "<s>" --eos "</s>" --now 2026-11-27)
check '[ "$out" = "<s>2026-11-271Hello</s>" ]'
printf '{"messages": [{"role": "user", "content": "wrapped"}]}' > "$T/obj.json"
out=$($A template --template "$T/t.jinja" --messages "$T/obj.json" --tools "$T/tools.json" --now 0)
check '[ "$out" = "1970-01-011wrapped" ]'
# tools absent is None, as in transformers: |length on it fails
$A template --template "$T/t.jinja" --messages "$T/m.json" > /dev/null 2> "$T/err"; rc=$?
check '[ $rc = 1 ] && grep -q "NoneType" "$T/err"'

# errors: the template refuses, a construct we do not run, bad input
printf '{{ raise_exception("Only user roles here") }}' > "$T/r.jinja"
$A template --template "$T/r.jinja" --messages "$T/m.json" > "$T/out" 2> "$T/err"; rc=$?
check '[ $rc = 1 ] && grep -q "Only user roles here" "$T/err" && [ ! -s "$T/out" ]'
printf 'x\n{%% include "other" %%}' > "$T/i.jinja"
$A template --template "$T/i.jinja" --messages "$T/m.json" > /dev/null 2> "$T/err"; rc=$?
check '[ $rc = 1 ] && grep -q "include.*line 2" "$T/err"'
printf '[{"role": ' > "$T/bad.json"
$A template --template "$T/t.jinja" --messages "$T/bad.json" > /dev/null 2>&1; check '[ $? = 1 ]'
$A template --template "$T/t.jinja" --messages /nonexistent.json > /dev/null 2>&1; check '[ $? = 1 ]'
$A template --model /nonexistent --messages "$T/m.json" > /dev/null 2>&1; check '[ $? = 1 ]'
# Meta's real tokenizer_config.json holds "model_max_length": 1000000000000000019884624838656,
# an integer past 64 bits that Python's json reads and jansson alone refuses.
out=$($A template --tokenizer-config tests/fixtures/tokenizers/llama3/tokenizer_config.json --messages "$T/m.json" \
      --add-generation-prompt 2>&1)
check '[ $? = 0 ]'
case "$out" in *"<|start_header_id|>assistant<|end_header_id|>"*) ;; *) echo "llama3 config: $out"; fail=1 ;; esac
exit $fail
