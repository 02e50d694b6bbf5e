#!/bin/sh
# Context and limits on the command line: -c/--ctx on the commands that run
# the model, a prompt plus -n over the context refused with both numbers,
# -n -1 as "until the context is full", perplexity chunk sizes that score no
# token, sampling values outside their ranges, one --threads rule. Each
# check names the bug it is for.
set -u
A=${AGENTMEM:-build/agentmem}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }
"$A" mkmodel --shape tiny --type q8_0 --quiet "$T/m.gguf"   # trained context 8192, vocabulary 2048
M="$T/m.gguf"
trained=$("$A" model info "$M" --json | jq .hparams.n_ctx_train)
check '[ "$trained" -gt 0 ]'

# bug: a prompt longer than the trained context ran anyway (no default
# limit); the refusal gives the prompt's size and the context's
n=$((trained + 1))
seq 1 $n | awk '{print $1 % 2000}' > "$T/long.ids"
"$A" run --model "$M" --ids "$(cat "$T/long.ids")" -n 1 > /dev/null 2> "$T/err"; check '[ $? = 1 ]'
check 'grep -q "($n tokens)" "$T/err" && grep -q "context of $trained" "$T/err"'
# bug: -n 100000 ran for minutes instead of being refused
"$A" run --model "$M" --ids "1 2" -n 100000 > /dev/null 2> "$T/err"; check '[ $? = 1 ]'
check 'grep -q "100002 tokens" "$T/err" && [ $(wc -l < "$T/err") = 1 ]'
# bug: no -c/--ctx; it bounds prompt + -n (4 + 7 > 10), and both spellings work
"$A" run --model "$M" --ids "1 2 3 4" -c 10 -n 7 > /dev/null 2> "$T/err"; check '[ $? = 1 ]'
check 'grep -q "(4 tokens) plus -n 7 is 11 tokens, over the context of 10" "$T/err"'
"$A" run --model "$M" --ids "1 2 3 4" --ctx 11 -n 7 --ignore-eos > "$T/out" 2>/dev/null; check '[ $? = 0 ]'
check '[ $(wc -w < "$T/out") = 7 ]'
"$A" logits --model "$M" --ids "1 2 3" -c 2 --out "$T/l.f32" 2> "$T/err"; check '[ $? = 1 ]'
check 'grep -q "3 tokens are over the context of 2" "$T/err"'
# bug: -n -1 was refused; it means until the context is full (10 - 4 = 6)
"$A" run --model "$M" --ids "1 2 3 4" -c 10 -n -1 --ignore-eos > "$T/out" 2>/dev/null; check '[ $? = 0 ]'
check '[ $(wc -w < "$T/out") = 6 ]'
"$A" run --model "$M" --ids "1" -n -2 > /dev/null 2>&1; check '[ $? = 2 ]'

# bug: perplexity --ctx 2 printed NaNs and "PPL = -nan" with exit 0: a
# chunk of N scores tokens N/2 .. N-2, so N must be 3 or more
for c in 1 2; do
    "$A" perplexity --model "$M" --ids-file "$T/long.ids" --ctx $c > "$T/out" 2> "$T/err"; check '[ $? = 2 ]'
    check '! grep -qi nan "$T/out" && grep -q "3\.\." "$T/err"'
done
"$A" perplexity --model "$M" --ids-file "$T/long.ids" -c 3 --chunks 2 > "$T/out" 2>/dev/null; check '[ $? = 0 ]'
check 'grep -q "^Final estimate: PPL = [0-9]" "$T/out" && ! grep -qi nan "$T/out"'

# bug: --temp inf, --top-p nan, negative penalties... were taken; each is
# refused with its range (usage error), and an in-range value still runs
bad() { # option, value
    "$A" run --model "$M" --ids "1 2" -n 1 "$1" "$2" > /dev/null 2> "$T/err"
    check "[ \$? = 2 ] && grep -q -- '$1 wants a number in [-0-9.]*\.\.[0-9.]*' '$T/err'"
}
for v in inf -inf nan -1 101; do bad --temp $v; done
for o in --top-p --min-p; do for v in inf nan -0.5 1.5; do bad $o $v; done; done
for v in inf nan 0 -1; do bad --repeat-penalty $v; done
for o in --presence-penalty --frequency-penalty; do for v in inf nan -3 3; do bad $o $v; done; done
"$A" run --model "$M" --ids "1 2" -n 2 --temp 0.7 --top-p 0.9 --min-p 0.05 --repeat-penalty 1.1 \
    --presence-penalty -0.5 --frequency-penalty 0.5 > /dev/null 2>&1; check '[ $? = 0 ]'

# bug: --threads had a different rule per command (bench refused 0, run
# took it; mkmodel stopped at 256): now 0..1024 everywhere, 0 = one per core
for c in run logits perplexity bench mkmodel; do
    for v in -1 1025 x; do
        "$A" $c --threads $v > /dev/null 2> "$T/err"
        check "[ \$? = 2 ] && grep -q -- '--threads wants 0\.\.1024' '$T/err'"
    done
done
"$A" bench --model "$M" --threads 0 -p 4 -n 1 -r 1 > /dev/null 2>&1; check '[ $? = 0 ]'
"$A" mkmodel --shape tiny --type q8_0 --threads 0 --quiet "$T/m2.gguf"; check '[ $? = 0 ]'
"$A" run --model "$M" --ids "1" -n 1 --threads 0 > /dev/null 2>&1; check '[ $? = 0 ]'
exit $fail
