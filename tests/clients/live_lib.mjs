// live_lib.mjs — what the robustness clients share: a check counter, raw SSE
// streams over fetch for both APIs (with an abort after N events or M ms),
// /metrics and /v1/agents readings. $AGENTMEM_URL is the server.
export const url = process.env.AGENTMEM_URL;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export let failures = 0;
export function check(cond, what) {
  if (!cond) { failures++; console.error("FAIL " + what); } else console.error("ok   " + what);
}

// A deterministic generator (mulberry32), so a failing run can be replayed
// with the same SEED.
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const routes = { chat: "/v1/chat/completions", completions: "/v1/completions", messages: "/v1/messages" };

export function body(api, content, maxTokens, stream) {
  const b = { max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream };
  if (api === "completions") b.prompt = content;
  else b.messages = [{ role: "user", content }];
  return b;
}

// One request. opts: {abortAfterEvents, abortAfterMs}. Returns {status,
// text, aborted, usage, error}. The text is the concatenated deltas (streams) or
// the answer (whole responses).
export async function request(api, agent, content, maxTokens, stream, opts = {}) {
  const ctl = new AbortController();
  let timer = null;
  if (opts.abortAfterMs >= 0) timer = setTimeout(() => ctl.abort(), opts.abortAfterMs);
  const out = { status: 0, text: "", aborted: false, usage: null };
  try {
    const r = await fetch(url + routes[api], {
      method: "POST", signal: ctl.signal,
      headers: { "content-type": "application/json", "x-agent-id": agent, "anthropic-version": "2023-06-01" },
      body: JSON.stringify(body(api, content, maxTokens, stream)),
    });
    out.status = r.status;
    if (!stream || r.status !== 200) {
      const t = await r.text();
      if (r.status === 200) {
        const j = JSON.parse(t);
        out.text = api === "chat" ? j.choices[0].message.content
          : api === "completions" ? j.choices[0].text : (j.content[0] ? j.content[0].text : "");
        out.usage = j.usage;
      } else out.text = t;
      return out;
    }
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "", events = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const ev = buf.slice(0, i); buf = buf.slice(i + 2);
        const m = /^(?:event: [a-z_]+\n)?data: (.*)$/s.exec(ev);
        if (!m || m[1] === "[DONE]") continue;
        const j = JSON.parse(m[1]);
        if (api === "messages") { if (j.type === "content_block_delta") out.text += j.delta.text; }
        else if (j.choices && j.choices.length) out.text += api === "chat" ? (j.choices[0].delta.content || "") : j.choices[0].text;
        if (++events === opts.abortAfterEvents) { ctl.abort(); out.aborted = true; return out; }
      }
    }
  } catch (e) {
    // A connection the server cuts is a result to check, not a crash of
    // the test: it comes back with error set (and the text so far).
    if (e.name !== "AbortError") { out.error = String(e.cause || e); if (!out.status) out.status = -1; }
    else out.aborted = true;
  } finally {
    if (timer) clearTimeout(timer);
  }
  return out;
}

export async function metrics() {
  const t = await (await fetch(url + "/metrics")).text();
  const m = {};
  for (const l of t.split("\n")) {
    if (!l || l[0] === "#") continue;
    const sp = l.lastIndexOf(" ");
    m[l.slice(0, sp)] = parseFloat(l.slice(sp + 1));
  }
  return m;
}

export async function agents() {
  return (await (await fetch(url + "/v1/agents")).json()).data;
}

// Polls until no sequence runs, nothing is queued and no agent is running;
// returns the milliseconds it took, or -1 after limitMs.
export async function settled(limitMs) {
  const t0 = Date.now();
  for (;;) {
    const m = await metrics();
    const busy = (await agents()).filter((a) => a.running);
    if (m.agentmem_running_sequences === 0 && m.agentmem_queue_depth === 0 && busy.length === 0) return Date.now() - t0;
    if (Date.now() - t0 > limitMs) return -1;
    await sleep(20);
  }
}
