#!/bin/sh
# Live server over curl: whole and streamed answers equal at temperature 0
# (both APIs), SSE framing byte by byte, a warm second turn, every bad input
# answered with its documented status while the server stays up, keys,
# Host checks, metrics (promtool when installed), SIGTERM exit 0.
set -u
. tests/serve_lib.sh
fail=0
bad() { echo "FAIL $*"; fail=1; }
J='content-type: application/json'
start_server --cache-dir "$TMP/cache"

st() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
jq_() { node -e "const j=JSON.parse(require('fs').readFileSync(process.argv[1],'utf8')); console.log($2)" "$1"; }

[ "$(st "$URL/health")" = 200 ] || bad health
[ "$(st "$URL/health/ready")" = 200 ] || bad ready

# whole vs stream, chat
body='{"messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":16,"temperature":0,"ignore_eos":true}'
curl -s -H "$J" -d "$body" "$URL/v1/chat/completions" >"$TMP/w.json"
sbody='{"messages":[{"role":"user","content":"Tell me a story."}],"max_tokens":16,"temperature":0,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}'
curl -s -N -H "$J" -d "$sbody" "$URL/v1/chat/completions" >"$TMP/s.txt"
node -e '
const fs = require("fs");
const w = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const raw = fs.readFileSync(process.argv[2], "utf8");
let ok = true; const f = (m) => { console.log("FAIL " + m); ok = false; };
if (!raw.endsWith("data: [DONE]\n\n")) f("stream does not end with data: [DONE]");
const evs = raw.split("\n\n"); evs.pop();
let text = "", usage = null, timings = null;
for (const e of evs) {
  if (!e.startsWith("data: ") || e.includes("\n")) f("bad SSE frame " + JSON.stringify(e));
  const d = e.slice(6); if (d === "[DONE]") continue;
  const c = JSON.parse(d);
  if (c.object !== "chat.completion.chunk") f("chunk object");
  if (c.choices.length) text += c.choices[0].delta.content || ""; else usage = c.usage, timings = c.timings;
}
// llama.cpp-style timings: the counts are those of usage, split into computed and cached
const tcheck = (t, u, what) => {
  if (!t) return f(what + ": no timings");
  if (t.prompt_n + t.cache_n !== u.prompt_tokens || t.cache_n !== u.prompt_tokens_details.cached_tokens)
    f(what + ": timings prompt_n/cache_n " + JSON.stringify(t) + " vs usage " + JSON.stringify(u));
  if (t.predicted_n !== u.completion_tokens) f(what + ": timings predicted_n");
  if (!(t.prompt_ms > 0 && t.predicted_ms > 0 && t.predicted_per_token_ms > 0 && (t.prompt_n === 0 || t.prompt_per_second > 0)))
    f(what + ": timings not positive " + JSON.stringify(t));
  if (Math.abs(t.predicted_per_token_ms * (t.predicted_n - 1) - t.predicted_ms) > 1e-6 * t.predicted_ms)
    f(what + ": predicted_per_token_ms is not predicted_ms over the decode steps");
};
tcheck(w.timings, w.usage, "whole");
tcheck(timings, usage || w.usage, "stream");
if (text !== w.choices[0].message.content) f("stream text != whole text");
if (!usage || usage.completion_tokens !== 16) f("include_usage chunk");
if (w.usage.completion_tokens !== 16 || w.choices[0].finish_reason !== "length") f("whole usage/finish");
if (!/^chatcmpl-/.test(w.id) || w.object !== "chat.completion") f("id/object");
process.exit(ok ? 0 : 1);
' "$TMP/w.json" "$TMP/s.txt" || fail=1

# whole vs stream, anthropic
ab='{"max_tokens":12,"temperature":0,"messages":[{"role":"user","content":"Hello"}]'
curl -s -H "$J" -d "$ab}" "$URL/v1/messages" >"$TMP/aw.json"
curl -s -N -H "$J" -d "$ab,\"stream\":true}" "$URL/v1/messages" >"$TMP/as.txt"
node -e '
const fs = require("fs");
const w = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
const raw = fs.readFileSync(process.argv[2], "utf8");
let ok = true; const f = (m) => { console.log("FAIL " + m); ok = false; };
const evs = raw.split("\n\n"); evs.pop();
const names = []; let text = "", stop = null, out = -1;
for (const e of evs) {
  const m = /^event: ([a-z_]+)\ndata: (.*)$/.exec(e);
  if (!m) { f("bad frame " + JSON.stringify(e)); continue; }
  const d = JSON.parse(m[2]); names.push(m[1]);
  if (d.type !== m[1]) f("event name != data.type");
  if (m[1] === "content_block_delta") text += d.delta.text;
  if (m[1] === "message_delta") { stop = d.delta.stop_reason; out = d.usage.output_tokens; }
}
const want = ["message_start", "content_block_start", "ping"];
for (let i = 0; i < 3; i++) if (names[i] !== want[i]) f("event order " + names.join(","));
if (names[names.length - 1] !== "message_stop" || names[names.length - 2] !== "message_delta") f("end events");
const wt = w.content.length ? w.content[0].text : "";
if (text !== wt) f("anthropic stream text != whole");
if (stop !== w.stop_reason || out !== w.usage.output_tokens) f("stop_reason/usage");
if (w.type !== "message" || !/^msg_/.test(w.id)) f("message shape");
process.exit(ok ? 0 : 1);
' "$TMP/aw.json" "$TMP/as.txt" || fail=1

# second turn of an agent is warm
t1='{"messages":[{"role":"user","content":"My name is Ann."}],"max_tokens":4,"temperature":0}'
curl -s -H "$J" -H 'X-Agent-Id: ag-1' -d "$t1" "$URL/v1/chat/completions" >"$TMP/t1.json"
a1=$(jq_ "$TMP/t1.json" 'j.choices[0].message.content')
node -e 'const a=process.argv[1]; console.log(JSON.stringify({messages:[{role:"user",content:"My name is Ann."},{role:"assistant",content:a},{role:"user",content:"And yours?"}],max_tokens:4,temperature:0}))' "$a1" >"$TMP/t2body"
curl -s -H "$J" -H 'X-Agent-Id: ag-1' -d @"$TMP/t2body" "$URL/v1/chat/completions" >"$TMP/t2.json"
[ "$(jq_ "$TMP/t2.json" 'j.usage.prompt_tokens_details.cached_tokens > 0')" = true ] || bad "second turn cached_tokens"
[ "$(jq_ "$TMP/t2.json" 'j.timings.cache_n === j.usage.prompt_tokens_details.cached_tokens && j.timings.prompt_n === j.usage.prompt_tokens - j.timings.cache_n')" = true ] || bad "second turn timings"
[ "$(st "$URL/v1/agents/ag-1")" = 200 ] || bad "agent listed"
[ "$(st "$URL/v1/agents/nobody")" = 404 ] || bad "unknown agent 404"
[ "$(st -X DELETE "$URL/v1/agents/ag-1?evict_only=true")" = 200 ] || bad "evict agent"
[ "$(st "$URL/v1/agents/ag-1")" = 200 ] || bad "evicted agent still listed (warm)"
[ "$(st -X DELETE "$URL/v1/agents/ag-1")" = 200 ] || bad "delete agent"
[ "$(st "$URL/v1/agents/ag-1")" = 404 ] || bad "deleted agent gone"
[ "$(st "$URL/v1/agents?owner=0")" = 403 ] || bad "admin routes disabled without an admin key"

# bad inputs: status and error shape
chk() { want=$1; shift; got=$(st "$@"); [ "$got" = "$want" ] || bad "want $want got $got: $*"; }
chk 400 -H "$J" -d '{"messages":' "$URL/v1/chat/completions"
deep=$(node -e 'console.log("{\"messages\":" + "[".repeat(100) + "]".repeat(100) + "}")')
chk 400 -H "$J" -d "$deep" "$URL/v1/chat/completions"
chk 400 -H "$J" -d '{"messages":"hi"}' "$URL/v1/chat/completions"
[ "$(jq_ "$TMP/body" 'j.error.param')" = messages ] || bad "param names the field"
chk 400 -H "$J" -d '{"messages":[{"role":"user","content":"x"}],"max_tokens":"7"}' "$URL/v1/chat/completions"
chk 400 -H "$J" -d '{"messages":[{"role":"wizard","content":"x"}]}' "$URL/v1/chat/completions"
printf '{"messages":[{"role":"user","content":"\377\376"}]}' >"$TMP/utf8"
chk 400 -H "$J" --data-binary @"$TMP/utf8" "$URL/v1/chat/completions"
chk 400 -H "$J" -d '{"messages":[{"role":"user","content":"a\u0000b"}]}' "$URL/v1/chat/completions"
grep -q 'has \\\\u0000 in a string' "$TMP/body" || bad "\\u0000: $(cat "$TMP/body")"
head -c 9000000 /dev/zero | tr '\0' 'a' >"$TMP/huge"
chk 413 -H "$J" --data-binary @"$TMP/huge" "$URL/v1/chat/completions"
chk 404 -H "$J" -d '{"model":"nope","messages":[{"role":"user","content":"x"}]}' "$URL/v1/chat/completions"
chk 400 -H "$J" -H 'X-Agent-Id: bad/id' -d '{"messages":[{"role":"user","content":"x"}],"max_tokens":1}' "$URL/v1/chat/completions"
chk 400 -H "$J" -d '{"messages":[{"role":"user","content":"x"}],"max_tokens":1,"n":2}' "$URL/v1/chat/completions"
chk 400 -H "$J" -d '{"messages":[{"role":"user","content":"x"}],"max_tokens":100000000}' "$URL/v1/chat/completions"
chk 400 -H "$J" -d '{"messages":[{"role":"user","content":"x"}]}' "$URL/v1/messages"
[ "$(jq_ "$TMP/body" 'j.type + "/" + j.error.type')" = error/invalid_request_error ] || bad "anthropic error shape"
chk 404 "$URL/v1/nothing"
chk 403 -H 'Host: evil.example' "$URL/v1/models"
chk 200 -H 'Host: localhost:1234' "$URL/v1/models"
curl -s -D "$TMP/h" -o /dev/null -H 'X-Request-Id: abc-123' "$URL/v1/models"
grep -qi '^X-Request-Id: abc-123' "$TMP/h" || bad "X-Request-Id echoed"
chk 200 -H "$J" -d '{"content":"hello world"}' "$URL/tokenize"
toks=$(jq_ "$TMP/body" 'JSON.stringify(j.tokens)')
chk 200 -H "$J" -d "{\"tokens\":$toks}" "$URL/detokenize"
chk 200 -H "$J" -d '{"messages":[{"role":"user","content":"hi"}]}' "$URL/v1/messages/count_tokens"
chk 200 -H "$J" -d '{"prompt":"Once upon","max_tokens":3}' "$URL/v1/completions"
[ "$(st "$URL/health")" = 200 ] || bad "alive after bad inputs"

curl -s "$URL/metrics" >"$TMP/metrics"
grep -q '^agentmem_requests_total{route="/v1/chat/completions",status="400"}' "$TMP/metrics" || bad "metrics requests"
grep -q '^agentmem_time_to_first_token_seconds_bucket{le="+Inf"}' "$TMP/metrics" || bad "metrics ttft"
if command -v promtool >/dev/null 2>&1; then promtool check metrics <"$TMP/metrics" || bad promtool; fi
stop_server

# Bug: a stream with nothing to send for minutes (queued, or a long prefill)
# is silent, and clients cut it (Node's fetch after 300 s). With one slot
# busy, a queued stream must get keep-alive comments, then its whole answer.
start_server --cache-dir "$TMP/cache-ka" --parallel 1 --sse-keepalive 1
curl -s -N -H "$J" -d '{"messages":[{"role":"user","content":"a long one"}],"max_tokens":6000,"ignore_eos":true,"stream":true}' "$URL/v1/chat/completions" >/dev/null &
busy=$!
sleep 0.3
curl -s -N -m 60 -H "$J" -d '{"messages":[{"role":"user","content":"queued"}],"max_tokens":4,"stream":true}' "$URL/v1/chat/completions" >"$TMP/ka.txt" &
queued=$!
sleep 2.5
kill $busy 2>/dev/null # the slot frees within a step
wait $queued
grep -q '^: keep-alive$' "$TMP/ka.txt" && tail -c 14 "$TMP/ka.txt" | grep -q 'data: \[DONE\]' \
    || bad "no keep-alive in a queued stream, or it did not end: $(head -c 200 "$TMP/ka.txt")"
stop_server

# keys
echo sekrit >"$TMP/key"
echo boss >"$TMP/admin"
start_server --cache-dir "$TMP/cache2" --api-key-file "$TMP/key" --admin-key-file "$TMP/admin"
chk 403 -H 'Authorization: Bearer sekrit' "$URL/v1/agents?owner=0"
chk 200 -H 'Authorization: Bearer boss' "$URL/v1/agents?owner=0"
chk 401 "$URL/v1/models"
chk 401 -H 'Authorization: Bearer wrong' "$URL/v1/models"
chk 200 -H 'Authorization: Bearer sekrit' "$URL/v1/models"
chk 200 -H 'x-api-key: sekrit' "$URL/v1/models"
chk 200 "$URL/health"
grep -q sekrit "$LOG" && bad "key in the log"
stop_server

# CORS and the rate limit
start_server --cache-dir "$TMP/cache3" --cors-origin http://app.example --rate-limit 2
curl -s -D "$TMP/h" -o /dev/null -X OPTIONS -H 'Origin: http://app.example' -H 'Access-Control-Request-Method: POST' "$URL/v1/chat/completions"
grep -qi '^Access-Control-Allow-Origin: http://app.example' "$TMP/h" || bad "CORS preflight"
curl -s -D "$TMP/h" -o /dev/null -H 'Origin: http://other.example' "$URL/v1/models"
grep -qi '^Access-Control-Allow-Origin' "$TMP/h" && bad "CORS for another origin"
n429=0
for i in 1 2 3 4 5; do [ "$(st "$URL/v1/models")" = 429 ] && n429=$((n429 + 1)); done
[ $n429 -gt 0 ] || bad "rate limit never answered 429"
curl -s -D "$TMP/h" -o /dev/null "$URL/v1/models"
grep -qi '^Retry-After:' "$TMP/h" || bad "429 without Retry-After"
stop_server
exit $fail
