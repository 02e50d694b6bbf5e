#!/bin/sh
# The real OpenAI and Anthropic npm clients against a live server
# (tests/clients/*.mjs), many agents at once with disconnects and a short
# soak, then a restart: an agent's second turn after SIGTERM
# and a new server on the same cache dir is warm.
set -u
. tests/serve_lib.sh
start_server --cache-dir "$TMP/cache"
fail=0
AGENTMEM_URL=$URL node tests/clients/openai.mjs || fail=1
AGENTMEM_URL=$URL node tests/clients/anthropic.mjs || fail=1
AGENTMEM_URL=$URL node tests/clients/concurrency.mjs || fail=1
# Restart: prime an agent, stop, start again, same prompt is served from disk.
body='{"messages":[{"role":"user","content":"Remember this: the quick brown fox."}],"max_tokens":8,"temperature":0}'
curl -s -H 'content-type: application/json' -H 'X-Agent-Id: restart-1' -d "$body" "$URL/v1/chat/completions" >"$TMP/r1.json"
stop_server
ls "$TMP/cache"/*/*restart-1*.amkv >/dev/null 2>&1 || { echo "no cache file after SIGTERM"; fail=1; }
start_server --cache-dir "$TMP/cache"
curl -s -H 'content-type: application/json' -H 'X-Agent-Id: restart-1' -d "$body" "$URL/v1/chat/completions" >"$TMP/r2.json"
node -e '
const a = require(process.argv[1]), b = require(process.argv[2]);
const p = b.usage.prompt_tokens, c = b.usage.prompt_tokens_details.cached_tokens;
if (c !== p) { console.error(`after restart: cached ${c} of ${p}`); process.exit(1); }
if (a.choices[0].message.content !== b.choices[0].message.content) { console.error("answer changed after restart"); process.exit(1); }
' "$TMP/r1.json" "$TMP/r2.json" || fail=1
stop_server
exit $fail
