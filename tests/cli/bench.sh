#!/bin/sh
# agentmem bench: --help, usage errors (exit 2), a missing model (exit 1),
# and a short run on a tiny synthetic model, as a table and as JSON.
set -e
A=${AGENTMEM:-build/agentmem}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$A" bench --help | grep -q -- "--json"
rc=0; "$A" bench --threads -1 2>/dev/null || rc=$?; [ "$rc" = 2 ]
rc=0; "$A" bench --pp 0 --tg 0 2>/dev/null || rc=$?; [ "$rc" = 2 ]
rc=0; "$A" bench --bogus 2>/dev/null || rc=$?; [ "$rc" = 2 ]
rc=0; "$A" bench --model "$T/missing.gguf" 2>/dev/null || rc=$?; [ "$rc" = 1 ]
"$A" mkmodel --shape tiny --type q4_0 --quiet "$T/m.gguf"
"$A" bench --model "$T/m.gguf" --threads 2 --pp 16 --tg 4 --reps 1 > "$T/table"
grep -q "pp16" "$T/table" && grep -q "tg4" "$T/table" && grep -q "Q4_0" "$T/table"
"$A" bench --model "$T/m.gguf" --threads 2 --pp 16 --tg 4 --reps 2 --json > "$T/json"
grep -q '^{"pp16": [0-9.]*, "pp16_sd": [0-9.]*, "tg4": [0-9.]*, ' "$T/json"
grep -q '"type": "Q4_0"' "$T/json" && grep -q '"threads": 2' "$T/json" && grep -q '"isa": "' "$T/json"
"$A" bench --model "$T/m.gguf" --threads 1 --pp 0 --tg 2 --reps 1 --json | grep -q '"tg2": '
echo ok
