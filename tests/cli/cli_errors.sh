#!/bin/sh
# docs/API.md's promise on every command: usage errors exit 2; bad files and
# bad input print one line with the reason and exit 1; output that cannot be
# written (> /dev/full) is a failure, never exit 0 with the output lost;
# messages say what the user did wrong. Each check names the bug it is for.
set -u
A=${AGENTMEM:-build/agentmem}
F=tests/fixtures/models
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }
"$A" mkmodel --shape tiny --type q8_0 --quiet "$T/m.gguf"
M="$T/m.gguf"
echo '[{"role":"user","content":"Hi"}]' > "$T/msgs.json"
echo "1 2 3 4 5 6 7 8" > "$T/ids.txt"

# one line, exit 1, the OS's reason: for a missing model, tokenizer or input
one_line() { # expected-reason, command...
    reason=$1; shift
    "$@" > /dev/null 2> "$T/err"; rc=$?
    check "[ $rc = 1 ] && [ \$(wc -l < '$T/err') = 1 ] && grep -q '$reason' '$T/err' || { echo 'rc=$rc: $*'; cat '$T/err'; false; }"
}
X="$T/missing"
one_line "No such file" "$A" model info "$X"
one_line "No such file" "$A" run --model "$X" --ids 1
one_line "No such file" "$A" logits --model "$X" --ids 1 --out "$T/o"
one_line "No such file" "$A" perplexity --model "$X" --ids-file "$T/ids.txt" --ctx 4
one_line "No such file" "$A" bench --model "$X"
one_line "No such file" "$A" tokenize --tokenizer "$X" hi
one_line "No such file" "$A" template --model "$X" --messages "$T/msgs.json"
# bug: "cannot open" without the reason, for inputs and outputs
one_line "No such file" "$A" perplexity --model "$M" --ids-file "$X" --ctx 4
one_line "No such file" "$A" logits --model "$M" --ids-file "$X" --out "$T/o"
one_line "No such file" "$A" logits --model "$M" --ids 1 --out "$T/no/dir/o"
one_line "No such file" "$A" tokenize --tokenizer "$X.json" hi

# bug: "batch token 0: id 609 outside the vocabulary (609)": the message is
# about the option the user gave and says the valid range
one_line "outside the model.s vocabulary (0\.\.2047)" "$A" run --model "$M" --ids "5 2048" -n 1
check '! grep -q "batch" "$T/err" && grep -q -- "--ids" "$T/err"'
one_line "outside the model.s vocabulary" "$A" logits --model "$M" --ids "5 4096" --out "$T/o"
# bug: a reference file of a model with another vocabulary said "file too
# large"; rows of 2049 floats cannot be rows of this model's 2048
head -c $((2049 * 4 * 8)) /dev/zero > "$T/ref.f32"
one_line "another vocabulary" "$A" logits --model "$M" --ids-file "$T/ids.txt" --compare "$T/ref.f32"
check '! grep -q "too large" "$T/err"'

# usage errors exit 2, also an option missing its value
for c in run logits perplexity bench mkmodel tokenize detokenize template; do
    "$A" $c --bogus > /dev/null 2>&1; check "[ \$? = 2 ] || { echo '$c --bogus'; false; }"
done
"$A" run --model > /dev/null 2>&1; check '[ $? = 2 ]'
"$A" bench -o xml > /dev/null 2>&1; check '[ $? = 2 ]'

# bug: > /dev/full exited 0 with the output lost. Every command that writes
# to stdout fails (exit 1) and says why.
if [ -w /dev/full ]; then
    full() { # command...
        "$@" > /dev/full 2> "$T/err"; rc=$?
        check "[ $rc = 1 ] && grep -q 'No space left on device' '$T/err' || { echo 'rc=$rc: $*'; cat '$T/err'; false; }"
    }
    full "$A" run --model "$M" --ids "1 2" -n 4
    full "$A" run --model "$M" -p "hello" -n 4
    full "$A" tokenize --tokenizer "$M" hello
    full "$A" detokenize --tokenizer "$M" 100 200
    full "$A" model info "$M"
    full "$A" template --model "$M" --messages "$T/msgs.json"
    full "$A" logits --model "$M" --ids "1 2" --out -
    full "$A" bench --model "$M" -p 4 -n 1 -r 1 -o json
    full "$A" --version
    full "$A" run --help
fi
exit $fail
