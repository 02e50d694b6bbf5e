// concurrency.mjs — many agents at once against a live server ($AGENTMEM_URL):
// 8 agents streaming together, started at staggered times so they join
// running decodes, must each get the text they get alone (temperature 0);
// clients that disconnect mid-stream must free their sequences within a
// second; a short soak ($SOAK_SECONDS, default 5) of mixed requests with 10%
// cancelled ends with no unexpected error.
const url = process.env.AGENTMEM_URL;
const SOAK = parseFloat(process.env.SOAK_SECONDS || "5");
let failures = 0;
function check(cond, what) {
  if (!cond) { failures++; console.error("FAIL " + what); } else console.error("ok   " + what);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function stream(agent, content, maxTokens, abortAfter = -1) {
  const ctl = new AbortController();
  const r = await fetch(url + "/v1/chat/completions", {
    method: "POST", signal: ctl.signal,
    headers: { "content-type": "application/json", "x-agent-id": agent },
    body: JSON.stringify({ messages: [{ role: "user", content }], max_tokens: maxTokens, temperature: 0,
                           ignore_eos: true, stream: true }),
  });
  if (r.status !== 200) return { status: r.status, text: await r.text() };
  const reader = r.body.getReader();
  let buf = "", text = "", chunks = 0;
  const dec = new TextDecoder();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const ev = buf.slice(0, i); buf = buf.slice(i + 2);
        if (ev === "data: [DONE]" || !ev.startsWith("data: ")) continue;
        const j = JSON.parse(ev.slice(6));
        if (j.choices && j.choices.length) text += j.choices[0].delta.content || "";
        if (++chunks === abortAfter) { ctl.abort(); return { status: 200, text, aborted: true }; }
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") throw e;
  }
  return { status: 200, text };
}
async function metric(name) {
  const t = await (await fetch(url + "/metrics")).text();
  const line = t.split("\n").find((l) => l.startsWith(name + " "));
  return line ? parseFloat(line.split(" ").pop()) : NaN;
}

// Bug: concurrent sequences mix (wrong seq ids, logits rows swapped, a join
// corrupting a running decode).
const prompts = Array.from({ length: 8 }, (_, i) => `Agent ${i} asks: ` + "tell me more ".repeat(3 + i * 5));
const alone = [];
for (let i = 0; i < 8; i++) alone.push((await stream(`alone-${i}`, prompts[i], 40)).text);
const together = await Promise.all(prompts.map(async (p, i) => { await sleep(i * 15); return stream(`conc-${i}`, p, 40); }));
for (let i = 0; i < 8; i++) check(together[i].text === alone[i], `agent ${i} streams the same text together as alone`);

// Bug: a disconnected client's sequence keeps running (or leaks its slot).
await Promise.all([0, 1, 2, 3].map((i) => stream(`gone-${i}`, prompts[i], 2000, 2 + i)));
let running = NaN;
for (let t = 0; t < 20; t++) { running = await metric("agentmem_running_sequences"); if (running === 0) break; await sleep(50); }
check(running === 0, `disconnected streams stop within a second (running ${running})`);

// Bug: something under mixed load fails, hangs or kills the server.
const t0 = Date.now();
let n = 0, errors = 0, cancelled = 0;
async function worker(w) {
  while (Date.now() - t0 < SOAK * 1000) {
    const k = n++;
    const cancel = k % 10 === 0;
    try {
      const r = await stream(`soak-${w}-${k % 3}`, prompts[k % 8] + " " + k, 8 + (k % 24), cancel ? 2 : -1);
      if (r.status !== 200) errors++;
      if (r.aborted) cancelled++;
    } catch (e) { errors++; console.error(e); }
  }
}
await Promise.all([0, 1, 2, 3, 4, 5].map(worker));
check(errors === 0, `soak: ${n} requests, ${cancelled} cancelled, ${errors} errors`);
for (let t = 0; t < 20; t++) { running = await metric("agentmem_running_sequences"); if (running === 0) break; await sleep(50); }
check(running === 0, "soak ends with no sequence running");
check((await fetch(url + "/health/ready")).status === 200, "server ready after the soak");
process.exit(failures ? 1 : 0);
