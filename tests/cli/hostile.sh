#!/bin/sh
# The hostile-invocation sweep: every command that reads a file gets a
# missing, empty, truncated, random and unreadable one; every numeric option
# gets junk. Nothing may crash, hang or trip a sanitizer: a usage error
# exits 2, a bad file or input exits 1 with a reason on one line, anything
# else exits 0. Run it on the sanitizer build too:
#   AGENTMEM=build-asan/agentmem sh tests/cli/hostile.sh
# (bug it is for: a command that aborts, reads past a buffer or exits with
# a signal on input a user can give it)
set -u
A=${AGENTMEM:-build/agentmem}
F=tests/fixtures/models
T=$(mktemp -d)
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT
# sanitizer reports must not look like an ordinary exit 1
export ASAN_OPTIONS="${ASAN_OPTIONS:-exitcode=99:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:exitcode=98:print_stacktrace=1}"
fail=0
n=0
"$A" mkmodel --shape tiny --type q4_0 --quiet "$T/m.gguf"
M="$T/m.gguf"
echo '[{"role":"user","content":"Hi"}]' > "$T/msgs.json"

# the hostile files
: > "$T/empty"
head -c 4096 "$M" > "$T/trunc_head"            # a GGUF header cut short
head -c $(( $(wc -c < "$M") / 2 )) "$M" > "$T/trunc_half"
tail -c 2048 "$M" > "$T/random"                 # quantized weights: noise (2 KiB: as a prompt file ~2K tokens, which a sanitizer build prefills in seconds)
head -c 3000 $F/llama3-tiny/tokenizer.json > "$T/trunc_json"
printf '{"a": [1, 2, {"b": ' > "$T/bad_json"
mkdir "$T/dir"
FILES="$T/missing $T/empty $T/trunc_head $T/trunc_half $T/random $T/trunc_json $T/bad_json $T/dir"
# (root reads any file: an unreadable one only means something to others)
if [ "$(id -u)" != 0 ]; then
    head -c 100 "$M" > "$T/unreadable"; chmod 000 "$T/unreadable"
    FILES="$FILES $T/unreadable"
fi

# runs one invocation; $1 = allowed exit codes ("1" or "0 1" ...)
try() {
    allowed=$1; shift
    n=$((n + 1))
    timeout 60 "$@" < /dev/null > "$T/out" 2> "$T/err"; rc=$?
    ok=0
    for a in $allowed; do [ "$rc" = "$a" ] && ok=1; done
    if grep -q "Sanitizer\|runtime error:" "$T/err"; then ok=0; fi
    # a failure says why, on one line
    if [ "$rc" = 1 ] && [ "$(wc -l < "$T/err")" != 1 ]; then ok=0; fi
    if [ $ok = 0 ]; then
        echo "FAILED (exit $rc, allowed: $allowed): $*"; head -n 20 "$T/err"; fail=1
    fi
}

for f in $FILES; do
    try "1" "$A" model info "$f"
    try "1" "$A" model info "$f" --json
    try "1" "$A" run --model "$f" --ids 1 -n 1
    try "0 1" "$A" run --model "$M" -f "$f" -n 1
    try "1" "$A" logits --model "$f" --ids 1 --out "$T/o"
    try "1" "$A" logits --model "$M" --ids-file "$f" --out "$T/o"
    try "1" "$A" logits --model "$M" --ids 1 --compare "$f"
    try "1" "$A" perplexity --model "$M" --ids-file "$f" --ctx 8
    try "1" "$A" perplexity --model "$f" --text-file "$f" --ctx 8
    try "1" "$A" bench -m "$f" -p 4 -n 1 -r 1
    try "1" "$A" tokenize --tokenizer "$f" hello
    try "0 1" "$A" tokenize --tokenizer "$M" --text-file "$f"
    try "1" "$A" detokenize --tokenizer "$f" 1 2
    try "1" "$A" template --model "$f" --messages "$T/msgs.json"
    try "1" "$A" template --model "$M" --messages "$f"
    try "0 1" "$A" template --template "$f" --messages "$T/msgs.json"   # any text is a template
    try "1" "$A" mkmodel --shape tiny --type q8_0 --quiet --vocab "$f" "$T/out.gguf"
    try "0 1" "$A" cache ls --cache-dir "$f"
    try "0 1" "$A" cache verify --cache-dir "$f"
done

# junk numbers for every numeric option: usage errors, never a crash
echo "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16" > "$T/ids.txt"
for v in "" x -1 1e99 99999999999999999999 nan inf 5x; do
    try "2" "$A" run --model "$M" --ids 1 -n 1 --top-k "$v"
    try "2" "$A" run --model "$M" --ids 1 -n 1 --repeat-last-n "$v"
    try "2" "$A" run --model "$M" --ids 1 -n 1 --threads "$v"
    try "2" "$A" run --model "$M" --ids 1 -n 1 --ctx "$v"
    try "2" "$A" logits --model "$M" --ids 1 --out "$T/o" --start-pos "$v"
    try "2" "$A" logits --model "$M" --ids 1 --out "$T/o" --chunk "$v"
    try "2" "$A" perplexity --model "$M" --ids-file "$T/ids.txt" --ctx 8 --batch "$v"
    try "2" "$A" bench -m "$M" -r "$v"
    try "2" "$A" mkmodel --shape tiny --type q8_0 --seed "$v" "$T/x.gguf"
done
for v in "" x nan inf -inf 1e99 -1e99; do
    for o in --temp --top-p --min-p --repeat-penalty --presence-penalty --frequency-penalty; do
        try "2" "$A" run --model "$M" --ids 1 -n 1 $o "$v"
    done
done
for v in "" x -1 99999999999 "1 x" "1,,2" "-5" "2147483648"; do
    try "0 1 2" "$A" run --model "$M" --ids "$v" -n 1
    try "0 1 2" "$A" detokenize --tokenizer "$M" "$v"
done
echo "$n invocations"
exit $fail
