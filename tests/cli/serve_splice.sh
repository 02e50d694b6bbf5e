#!/bin/sh
# Live server: a chat client streams an answer, appends its text as the
# assistant message and sends the next turn; the fixture model's answer holds
# bytes that are not UTF-8, which the stream sent as U+FFFD.
# Bugs: the answer splice compares the prompt with the cache's raw bytes, so
# the first U+FFFD ends the reuse and the rest of the answer is prefilled
# again — the second turn's cached_tokens must cover the first turn's prompt
# and every fed answer token (all but the last, sampled and never fed); the
# splice only looks at the last answer, so an earlier one (its text sent
# again, re-tokenized again) ends the reuse — the third turn's must cover the
# whole second prompt. Under 5 s on the fixture model.
set -u
. tests/serve_lib.sh
start_server --cache-dir "$TMP/cache"
node - "$URL" <<'JS' || exit 1
const url = process.argv[2];
async function turn(messages) {
  const r = await fetch(url + "/v1/chat/completions", {
    method: "POST", headers: { "content-type": "application/json", "x-agent-id": "splice-1" },
    body: JSON.stringify({ messages, max_tokens: 40, temperature: 0, ignore_eos: true, stream: true,
                           stream_options: { include_usage: true } }) });
  if (!r.ok) throw new Error(r.status + " " + await r.text());
  let text = "", usage = null;
  for (const e of (await r.text()).split("\n\n")) {
    if (!e.startsWith("data: ") || e === "data: [DONE]") continue;
    const j = JSON.parse(e.slice(6));
    if (j.choices && j.choices.length) text += j.choices[0].delta.content || "";
    if (j.usage) usage = j.usage;
  }
  return { text, p: usage.prompt_tokens, c: usage.completion_tokens, cached: usage.prompt_tokens_details.cached_tokens };
}
let ok = true;
const bad = (m) => { console.log("FAIL " + m); ok = false; };
const msgs = [{ role: "system", content: "You are agent 0." }, { role: "user", content: "turn 0 words w1 w2 w3 w4 w5" }];
const t0 = await turn(msgs);
// preconditions: the answer has replaced bytes, and no edge whitespace that
// the template's trim would drop (that shortens the reuse by design)
if (!t0.text.includes("\ufffd")) bad("the first answer has no U+FFFD: nothing to test, pick another message");
if (t0.text !== t0.text.trim()) bad("the first answer starts or ends with whitespace: pick another message");
msgs.push({ role: "assistant", content: t0.text }, { role: "user", content: "turn 1 words w6 w7" });
const t1 = await turn(msgs);
if (t1.cached < t0.p + t0.c - 1) bad(`second turn cached ${t1.cached}, want >= ${t0.p + t0.c - 1} (prompt ${t0.p} + answer ${t0.c} - 1)`);
msgs.push({ role: "assistant", content: t1.text }, { role: "user", content: "turn 2" });
const t2 = await turn(msgs);
if (t2.cached < t1.p) bad(`third turn cached ${t2.cached}, want >= ${t1.p} (the second turn's prompt)`);
console.log(JSON.stringify({ t0: [t0.p, t0.c, t0.cached], t1: [t1.p, t1.c, t1.cached], t2: [t2.p, t2.c, t2.cached] }));
process.exit(ok ? 0 : 1);
JS
stop_server
