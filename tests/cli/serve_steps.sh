#!/bin/sh
# --step-tokens: a prompt alone is read in ceil(prompt / N) forward steps (the
# bug it is for: the option parsed but the scheduler keeping its default of
# 256, which reads this prompt in one step), and bad values are refused.
set -u
. tests/serve_lib.sh
fail=0
bad() { echo "FAIL $*"; fail=1; }
J='content-type: application/json'

for v in 0 -3 abc 16385; do
    "$A" serve --model "$MODEL" --port 0 --step-tokens "$v" >"$TMP/bad.log" 2>&1
    rc=$?
    [ $rc -eq 2 ] || bad "--step-tokens $v: exit $rc, want 2"
    grep -q "bad value for --step-tokens" "$TMP/bad.log" || bad "--step-tokens $v: no message"
done

steps() { curl -s "$URL/metrics" | sed -n 's/^agentmem_scheduler_steps_total \([0-9]*\).*/\1/p'; }
# a prompt of a few hundred tokens, one generated token (from the prefill's logits)
words=$(node -e 'let s = []; for (let i = 0; i < 120; i++) s.push("word" + (i * 7919 % 1000)); console.log(s.join(" "))')
body="{\"messages\":[{\"role\":\"user\",\"content\":\"$words\"}],\"max_tokens\":1,\"temperature\":0}"
for n in 32 100; do
    start_server --cache-dir "$TMP/cache-$n" --step-tokens "$n"
    s0=$(steps)
    curl -s -H "$J" -H "X-Agent-Id: steps-$n" -d "$body" "$URL/v1/chat/completions" >"$TMP/r.json"
    s1=$(steps)
    p=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).usage.prompt_tokens)' "$TMP/r.json")
    want=$(( (p + n - 1) / n ))
    [ "$p" -gt 200 ] || bad "prompt of $p tokens: too short to tell"
    [ $((s1 - s0)) -eq "$want" ] || bad "--step-tokens $n: $p prompt tokens in $((s1 - s0)) steps, want $want"
    stop_server
done
[ $fail -eq 0 ] && echo "ok serve_steps"
exit $fail
