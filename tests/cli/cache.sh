#!/bin/sh
# agentmem cache ls/show/verify/rm on files written by the unit test's
# --write helper, in model directories (cache_dir/<32 hex>/) and the flat
# layout; a corrupted byte makes verify exit 1.
set -u
A=${AGENTMEM:-build/agentmem}
H=${AM_BUILD:-build}/tests/kvcache/test_cachefile
D=$(mktemp -d /tmp/am_cache_cli.XXXXXX)
trap 'rm -rf "$D"' EXIT
fail=0
M=0102030405060708090a0b0c0d0e0f10   # the helper's fingerprint
M2=ffffffffffffffffffffffffffffffff  # a second model's directory
mkdir -p "$D/$M" "$D/$M2"
"$H" --write "$D/$M/alice.amkv" alice || { echo "helper failed"; exit 1; }
"$H" --write "$D/$M/00000000000000ff-bob.amkv" bob || { echo "helper failed"; exit 1; }
"$H" --write "$D/$M2/00000000000000ff-bob.amkv" bob || { echo "helper failed"; exit 1; }
"$H" --write "$D/carol.amkv" carol || { echo "helper failed"; exit 1; }   # flat layout
out=$("$A" cache ls --cache-dir "$D") || { echo "ls failed"; fail=1; }
[ "$(echo "$out" | wc -l)" -eq 4 ] || { echo "ls: want 4 lines: $out"; fail=1; }
echo "$out" | head -n 1 | grep -q "^alice .*test-model  *$M .* 40 tokens" || { echo "ls line 1: $out"; fail=1; }
[ "$(echo "$out" | grep -c "^bob ")" -eq 2 ] || { echo "ls: bob of two models: $out"; fail=1; }
echo "$out" | grep -q "^bob .* $M2 " || { echo "ls: bob of model 2: $out"; fail=1; }
echo "$out" | grep -q "^carol .* flat " || { echo "ls: carol (flat): $out"; fail=1; }
out=$("$A" cache ls --cache-dir "$D" --model-fp ffff) || { echo "ls --model-fp failed"; fail=1; }
[ "$(echo "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -q "^bob " || { echo "ls --model-fp: $out"; fail=1; }
"$A" cache ls --cache-dir "$D" --model-fp XYZ > /dev/null 2>&1; [ $? -eq 2 ] || { echo "bad --model-fp must be a usage error"; fail=1; }
out=$("$A" cache show --cache-dir "$D" alice) || { echo "show failed"; fail=1; }
echo "$out" | grep -q "^agent *alice" || { echo "show agent: $out"; fail=1; }
echo "$out" | grep -q "^tokens *40 " || { echo "show tokens: $out"; fail=1; }
[ "$(echo "$out" | grep '^first ids' | wc -w)" -eq 18 ] || { echo "show ids: $out"; fail=1; }
"$A" cache verify --cache-dir "$D" > "$D/v.txt" || { echo "verify of sound files failed"; cat "$D/v.txt"; fail=1; }
[ "$(grep -c '^OK ' "$D/v.txt")" -eq 4 ] || { echo "verify: want 4 OK"; fail=1; }
# corrupt one byte of a block in the middle of alice's file
size=$(wc -c < "$D/$M/alice.amkv")
off=$((size / 2))
printf '\377' | dd of="$D/$M/alice.amkv" bs=1 seek=$off conv=notrunc 2>/dev/null
printf '\000' | dd of="$D/$M/alice.amkv" bs=1 seek=$((off + 1)) conv=notrunc 2>/dev/null
"$A" cache verify --cache-dir "$D" alice > "$D/v.txt"; rc=$?
[ $rc -eq 1 ] || { echo "verify of a corrupt file: exit $rc"; fail=1; }
grep -q "^BAD " "$D/v.txt" || { echo "verify: no BAD line"; fail=1; }
"$A" cache verify --cache-dir "$D" bob > /dev/null || { echo "verify bob"; fail=1; }
"$A" cache rm --cache-dir "$D" bob || { echo "rm failed"; fail=1; }
[ ! -e "$D/$M/00000000000000ff-bob.amkv" ] && [ ! -e "$D/$M2/00000000000000ff-bob.amkv" ] ||
    { echo "rm left a file of bob"; fail=1; }
[ -e "$D/$M/alice.amkv" ] && [ -e "$D/carol.amkv" ] || { echo "rm removed another agent's file"; fail=1; }
"$A" cache show --cache-dir "$D" bob > /dev/null 2>&1 && { echo "show of a removed agent succeeded"; fail=1; }
"$A" cache rm --cache-dir "$D" ../x > /dev/null 2>&1; [ $? -eq 2 ] || { echo "bad agent id must be a usage error"; fail=1; }
XDG_CACHE_HOME="$D/xdg" "$A" cache ls > /dev/null || { echo "ls of a missing default dir"; fail=1; }
exit $fail
