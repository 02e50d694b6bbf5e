#!/bin/sh
# agentmem bench: --help, usage errors (exit 2), a missing model (exit 1),
# and short runs on a tiny synthetic model, as a table and as JSON: the
# depth rows, the batched rows and --memory. The JSON's cached / tokens /
# seqs_advanced come from the engine's sequence lengths, so these checks see
# what the runs really did, not what was asked.
set -e
A=${AGENTMEM:-build/agentmem}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$A" bench --help | grep -q -- "--json"
rc=0; "$A" bench --threads -1 2>/dev/null || rc=$?; [ "$rc" = 2 ]
rc=0; "$A" bench --pp 0 --tg 0 2>/dev/null || rc=$?; [ "$rc" = 2 ]
rc=0; "$A" bench --bogus 2>/dev/null || rc=$?; [ "$rc" = 2 ]
rc=0; "$A" bench --model "$T/missing.gguf" 2>/dev/null || rc=$?; [ "$rc" = 1 ]
# Bug: a bad list or value taken as 0 (or clamped) and run anyway; every one
# must exit 2 naming the option.
for bad in "--depth abc" "--depth -1" "--depth 4096,x" "--depth 2000000" "-d ," "--seqs 0" "--seqs 65" \
    "--seqs 2,,y" "--seq-gen 0" "--seq-prompt -5" "--memory-mib 1" "--kv q5_1" "--ctx 100"; do
    rc=0
    # shellcheck disable=SC2086 # $bad is an option and its value
    "$A" bench $bad 2>"$T/err" || rc=$?
    [ "$rc" = 2 ] || fail "bench $bad: exit $rc, not 2"
    opt=${bad%% *}
    grep -q -- "$opt" "$T/err" || fail "bench $bad: message does not name $opt: $(cat "$T/err")"
done
"$A" mkmodel --shape tiny --type q4_0 --quiet "$T/m.gguf"
"$A" bench --model "$T/m.gguf" --threads 2 --pp 16 --tg 4 --reps 1 > "$T/table"
grep -q "pp16" "$T/table" && grep -q "tg4" "$T/table" && grep -q "Q4_0" "$T/table"
"$A" bench --model "$T/m.gguf" --threads 2 --pp 16 --tg 4 --reps 2 --json > "$T/json"
grep -q '^{"pp16": [0-9.]*, "pp16_sd": [0-9.]*, "tg4": [0-9.]*, ' "$T/json"
grep -q '"type": "Q4_0"' "$T/json" && grep -q '"threads": 2' "$T/json" && grep -q '"isa": "' "$T/json"
"$A" bench --model "$T/m.gguf" --threads 1 --pp 0 --tg 2 --reps 1 --json | grep -q '"tg2": '

# Depth rows. Bug: the depth prefill skipped (cached != depth), a repetition
# not truncated back (cached grows past the depth on reps 2 and 3: the last
# rep's value is reported), pp at depth run on a fresh sequence.
"$A" bench --model "$T/m.gguf" --threads 2 --pp 8 --tg 4 --reps 3 --depth 64,0 --kv q8_0 --json > "$T/d"
jq -e '[.tests[] | .test] == ["pp8", "tg4", "pp8 @ d64", "tg4 @ d64"] and all(.tests[]; .batched | not)' "$T/d" > /dev/null || fail "depth rows: $(cat "$T/d")"
jq -e 'all(.tests[]; .cached == .depth and .tokens == .n and .seqs_advanced == 1)' "$T/d" > /dev/null ||
    fail "depth rows do not run on their depth: $(jq -c '.tests' "$T/d")"
# Bug: a zero, negative, NaN or infinite speed or bound (a time of 0, an
# unmeasured field printed anyway); jq reads "nan"/"inf" as a parse error.
jq -e 'all(.tests[]; .tps > 0 and .tps < 1e9 and .sd >= 0) and .kv == "q8_0"' "$T/d" > /dev/null || fail "depth values"
jq -e 'all(.tests[] | select(.kind == "pp"); .gops > 0 and .int8_peak_share > 0 and .int8_peak_share < 1)' "$T/d" \
    > /dev/null || fail "pp GOP/s: $(jq -c '.tests' "$T/d")"
# Bug: the depth ratio missing or computed against the wrong row.
jq -e '(.tests[3].vs_depth0 - .tests[3].tps / .tests[1].tps | fabs) < 1e-3' "$T/d" > /dev/null ||
    fail "vs_depth0: $(jq -c '.tests[3]' "$T/d")"

# Bug: tests whose KV cache cannot fit started anyway (the blocks are
# allocated as the prefill goes: killed hours later); refused up front.
# (64 x 1M tokens of the tiny model's KV: 128 GiB; skipped on a machine of more than 200 GiB)
if [ "$(awk '/^MemTotal:/ { print int($2 / 1048576) }' /proc/meminfo)" -lt 200 ]; then
    rc=0; "$A" bench --model "$T/m.gguf" --seqs 64 --seq-prompt 1048576 --reps 1 2>"$T/err" || rc=$?
    [ "$rc" = 1 ] && grep -q "over half of this machine" "$T/err" || fail "huge KV: $rc $(cat "$T/err")"
fi

# Batched rows. Bug: all rows of a step on one sequence (seqs_advanced 1),
# the prompts not prefilled (cached 0), tokens not S*G, a count run twice,
# S = 1 named like a depth row (run.sh would pair it with the wrong line).
"$A" bench --model "$T/m.gguf" --threads 2 --pp 0 --tg 0 --reps 2 --seqs 3,1,2 --seq-prompt 16 --seq-gen 4 \
    --json > "$T/s"
jq -e '[.tests[] | .test] == ["1x tg4 @ d16", "2x tg4 @ d16", "3x tg4 @ d16"]' "$T/s" > /dev/null || fail "seqs rows: $(cat "$T/s")"
jq -e 'all(.tests[]; .batched and .tokens == .seqs * 4 and .seqs_advanced == .seqs and .cached == .seqs * 16 and .tps > 0)' \
    "$T/s" > /dev/null || fail "seqs rows do not decode S sequences: $(jq -c '.tests' "$T/s")"
# Bug: weight bytes counted per token instead of per step (one weight pass
# serves all S rows of a step).
jq -e '.decode_bytes as $d | all(.tests[]; ((.weight_bytes_per_s * .seqs / $d / .tps - 1) | fabs) < 1e-3)' "$T/s" \
    > /dev/null || fail "batched bytes/s: $(jq -c '.tests' "$T/s")"
"$A" bench --model "$T/m.gguf" --threads 2 --pp 0 --tg 0 --reps 1 --seqs 2 --seq-prompt 8 --seq-gen 2 |
    grep -q '| *2x tg2 @ d8 |' || fail "seqs table row"

# --memory. Bug: the bandwidth not measured (0) or not used for the share.
"$A" bench --memory --memory-mib 64 --threads 2 --json > "$T/mem"
jq -e '.memory.read_bytes_per_s > 1e8 and .clock_mhz > 100 and .int8_peak_ops > 0 and .tests == []' "$T/mem" \
    > /dev/null || fail "memory only: $(cat "$T/mem")"
"$A" bench --memory --memory-mib 64 --threads 2 | grep -q "^read bandwidth: [0-9.]* GB/s" || fail "memory table"
# Bug: a buffer over the machine's memory allocated anyway (overcommit: the
# first pass's writes get the process killed); refused before allocating.
mem_mib=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
if [ "$mem_mib" -lt 65536 ]; then
    rc=0; "$A" bench --memory --memory-mib $((mem_mib / 2 + 64)) 2>"$T/err" || rc=$?
    [ "$rc" = 1 ] && grep -q "over half of this machine" "$T/err" || fail "big --memory buffer: $rc $(cat "$T/err")"
fi
"$A" bench --model "$T/m.gguf" --memory --memory-mib 64 --threads 2 --pp 8 --tg 4 --reps 1 --json > "$T/mt"
# Bug: the bytes/s from another count than the decode bytes (e.g. the file's
# size), the share of something else than the measured bandwidth.
jq -e '.tests[1] as $t | $t.bandwidth_share > 0 and
       (($t.bandwidth_share * .memory.read_bytes_per_s / $t.weight_bytes_per_s - 1) | fabs) < 2e-3 and
       (($t.weight_bytes_per_s / (.decode_bytes * $t.tps) - 1) | fabs) < 1e-3 and .decode_bytes < .size' \
    "$T/mt" > /dev/null || fail "bandwidth share: $(cat "$T/mt")"
echo ok
