// bench/serve.mjs — serving many agents against a live agentmem server.
// Usage: node bench/serve.mjs URL PID MODE [args]
//   agents C TURNS USER_TOKENS GEN   C concurrent multi-turn conversations
//   routing EXPERTS ARTICLE QUERIES QUERY_TOKENS  experts primed with an
//                                    article, then queried in random order with
//                                    questions of QUERY_TOKENS tokens
//   interrupt LONG SHORTS            SHORTS short requests, one after another,
//                                    arriving during a long prefill
// Prints one JSON object on stdout. PID is the server's, for VmRSS.
// Decode tokens/s are measured between the first and the last token of each
// stream (prefill excluded): per agent, its tokens after the first / its
// streams' first-to-last time; for the system, all streams' tokens after the
// first / the time during which at least one stream was between its first
// and last token.
import { readFileSync } from "node:fs";
const [url, pidArg, mode, ...args] = process.argv.slice(2);
const PID = parseInt(pidArg, 10);

async function post(path, body, headers = {}) {
  const r = await fetch(url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}
let wordSeed = 12345;
function words(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    wordSeed = (wordSeed * 1103515245 + 12345) & 0x7fffffff;
    out.push("w" + (wordSeed % 5000).toString(36));
  }
  return out.join(" ");
}
// Text of about n tokens, trimmed with /tokenize.
async function textOf(n, salt) {
  const t = await post("/tokenize", { content: `${salt}: ` + words(n), add_special: false });
  return (await post("/detokenize", { tokens: t.tokens.slice(0, n) })).content;
}
function rssKiB() {
  try {
    const m = readFileSync(`/proc/${PID}/status`, "utf8").match(/VmRSS:\s+(\d+)/);
    return m ? parseInt(m[1], 10) : null;
  } catch { return null; }
}
async function metric(name) {
  const t = await (await fetch(url + "/metrics")).text();
  const m = t.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
  return m ? parseFloat(m.split(" ").pop()) : NaN;
}
const pct = (a, p) => {
  if (!a.length) return null;
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))];
};
const r1 = (x) => (x == null ? null : Math.round(x * 10) / 10);

// One streamed chat turn: TTFT (first content chunk), end time, usage.
async function chat(agent, messages, maxTokens) {
  const t0 = performance.now();
  const r = await fetch(url + "/v1/chat/completions", {
    method: "POST",
    headers: { "content-type": "application/json", "x-agent-id": agent },
    body: JSON.stringify({ messages, max_tokens: maxTokens, temperature: 0, stream: true,
                           ignore_eos: true, stream_options: { include_usage: true } }),
  });
  if (!r.ok) throw new Error(`chat ${agent}: ${r.status} ${await r.text()}`);
  const reader = r.body.getReader(), dec = new TextDecoder();
  let first = 0, last = 0, buf = "", text = "", usage = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i); buf = buf.slice(i + 2);
      if (!ev.startsWith("data: ") || ev === "data: [DONE]") continue;
      const j = JSON.parse(ev.slice(6));
      if (j.choices && j.choices.length) {
        const d = j.choices[0].delta || {};
        if (d.content) {
          last = performance.now();
          if (!first) first = last; // not the role-only first chunk
          text += d.content;
        }
      }
      if (j.usage) usage = j.usage;
    }
  }
  const t1 = performance.now();
  if (!first) first = last = t1;
  return { ttft: first - t0, total: t1 - t0, t0, first, last, text,
           prompt: usage ? usage.prompt_tokens : -1,
           cached: usage && usage.prompt_tokens_details ? usage.prompt_tokens_details.cached_tokens : -1,
           gen: usage ? usage.completion_tokens : -1 };
}

// Total length of the union of [start, end] intervals, ms.
function unionMs(spans) {
  let total = 0, end = -Infinity;
  for (const [a, b] of [...spans].sort((x, y) => x[0] - y[0])) {
    if (a > end) { total += b - a; end = b; } else if (b > end) { total += b - end; end = b; }
  }
  return total;
}

async function agents(C, TURNS, USER, GEN) {
  const users = [];
  for (let a = 0; a < C; a++) {
    users.push([]);
    for (let t = 0; t < TURNS; t++) users[a].push(await textOf(USER, `agent ${a} turn ${t}`));
  }
  const tag = Math.random().toString(36).slice(2, 8);
  const perTurn = Array.from({ length: TURNS }, () => []);
  const perAgentTps = [], rss = [rssKiB()], spans = [];
  let decodeTokens = 0, lastPrompt = 0;
  const t0 = performance.now();
  const sampler = setInterval(() => rss.push(rssKiB()), 200);
  await Promise.all(users.map(async (turns, a) => {
    const msgs = [{ role: "system", content: "You are agent " + a + "." }];
    let gen = 0, decodeMs = 0; // tokens after each stream's first, and their first-to-last time
    for (let t = 0; t < TURNS; t++) {
      msgs.push({ role: "user", content: turns[t] });
      const r = await chat(`serve-${tag}-${C}-${a}`, msgs, GEN);
      msgs.push({ role: "assistant", content: r.text });
      perTurn[t].push(r.ttft);
      if (r.gen > 1 && r.last > r.first) {
        gen += r.gen - 1; decodeMs += r.last - r.first;
        spans.push([r.first, r.last]);
      }
      lastPrompt = Math.max(lastPrompt, r.prompt);
    }
    decodeTokens += gen;
    perAgentTps.push(decodeMs > 0 ? gen / (decodeMs / 1000) : null);
  }));
  clearInterval(sampler);
  const wall = (performance.now() - t0) / 1000;
  rss.push(rssKiB());
  return {
    mode: "agents", agents: C, turns: TURNS, user_tokens: USER, gen_tokens: GEN,
    final_prompt_tokens: lastPrompt,
    ttft_p50_ms: perTurn.map((a) => r1(pct(a, 0.5))), ttft_p95_ms: perTurn.map((a) => r1(pct(a, 0.95))),
    system_tok_s: r1(decodeTokens / (unionMs(spans) / 1000)), decode_tokens: decodeTokens, agent_tok_s: r1(pct(perAgentTps.filter((x) => x != null), 0.5)),
    wall_s: r1(wall), rss_max_mib: r1(Math.max(...rss.filter((x) => x != null)) / 1024),
  };
}

async function routing(E, ART, Q, QT) {
  const tag = Math.random().toString(36).slice(2, 8);
  const prime = [], query = [], primeCached = [], queryCached = [], queryNew = [];
  const arts = [];
  for (let e = 0; e < E; e++) arts.push(await textOf(ART, `article ${e}`));
  const hist = [];
  for (let e = 0; e < E; e++) {
    const msgs = [{ role: "system", content: "You are expert " + e + ". Reference:\n" + arts[e] },
                  { role: "user", content: "Summarize." }];
    const r = await chat(`expert-${tag}-${e}`, msgs, 8);
    msgs.push({ role: "assistant", content: r.text });
    hist.push(msgs);
    prime.push(r.ttft); primeCached.push(r.cached);
  }
  const ev0 = await metric("agentmem_cache_evictions_total"), rs0 = await metric("agentmem_cache_restores_total");
  // mulberry32: the low bits of the LCG above repeat with a short period
  // (seed % 10 visited only the even experts).
  let seed = 7;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const order = [];
  for (let q = 0; q < Q; q++) {
    const e = Math.floor(rand() * E);
    order.push(e);
    // A question of QT tokens (a 12-word English question is ~16-20 with a
    // real tokenizer; the synthetic vocabulary's words cost ~4 tokens each).
    const msgs = [...hist[e], { role: "user", content: (await textOf(QT, "Question " + q)) + "?" }];
    const r = await chat(`expert-${tag}-${e}`, msgs, 8);
    msgs.push({ role: "assistant", content: r.text });
    hist[e] = msgs;
    query.push(r.ttft); queryCached.push(r.cached); queryNew.push(r.prompt - r.cached);
  }
  return {
    mode: "routing", experts: E, article_tokens: ART, queries: Q, query_tokens: QT, order,
    prime_p50_ms: r1(pct(prime, 0.5)), prime_p95_ms: r1(pct(prime, 0.95)),
    query_p50_ms: r1(pct(query, 0.5)), query_p95_ms: r1(pct(query, 0.95)),
    query_cached_p50: pct(queryCached, 0.5), query_cached_min: Math.min(...queryCached),
    query_new_tokens_p50: pct(queryNew, 0.5), query_new_tokens_max: Math.max(...queryNew),
    query_speedup: r1(pct(prime, 0.5) / pct(query, 0.5)),
    evictions: (await metric("agentmem_cache_evictions_total")) - ev0,
    restores: (await metric("agentmem_cache_restores_total")) - rs0,
    rss_mib: r1(rssKiB() / 1024),
  };
}

async function interrupt(LONG, SHORTS) {
  const tag = Math.random().toString(36).slice(2, 8);
  const longText = await textOf(LONG, "long"), shortText = await textOf(16, "short");
  const alone = [];
  for (let i = 0; i < 3; i++) alone.push((await chat(`short-${tag}-a${i}`, [{ role: "user", content: shortText }], 4)).ttft);
  // The chunk time: a long prompt of the same length alone (another text, so
  // nothing is shared), its time to first token over its scheduler steps.
  const c0 = await metric("agentmem_scheduler_steps_total");
  const calib = await chat(`calib-${tag}`, [{ role: "user", content: await textOf(LONG, "calibration") }], 1);
  const calibSteps = (await metric("agentmem_scheduler_steps_total")) - c0;
  const s0 = await metric("agentmem_scheduler_steps_total");
  let longDone = false;
  const longP = chat(`long-${tag}`, [{ role: "user", content: longText }], 1).then((r) => { longDone = true; return r; });
  await new Promise((r) => setTimeout(r, 300));
  // Short requests one after another while the long prefill runs; each its own agent.
  const sent = [];
  for (let i = 0; i < SHORTS && !longDone; i++)
    sent.push(await chat(`short-${tag}-${i}`, [{ role: "user", content: shortText }], 4));
  const long = await longP;
  // Those sent before the long prompt's first token: they arrived during its prefill.
  const during = sent.filter((r) => r.t0 < long.first).map((r) => r.ttft);
  const steps = (await metric("agentmem_scheduler_steps_total")) - s0;
  const stepMs = calibSteps > 0 ? calib.ttft / calibSteps : null;
  return {
    mode: "interrupt", long_tokens: LONG, long_ttft_ms: r1(long.ttft),
    short_alone_ttft_ms: r1(pct(alone, 0.5)), short_during_n: during.length,
    short_during_p50_ms: r1(pct(during, 0.5)), short_during_p95_ms: r1(pct(during, 0.95)),
    scheduler_steps: steps, step_ms: r1(stepMs),
    p95_over_step: stepMs && during.length ? Math.round((pct(during, 0.95) / stepMs) * 100) / 100 : null,
  };
}

const n = args.map((x) => parseInt(x, 10));
let res;
if (mode === "agents") res = await agents(...n);
else if (mode === "routing") res = await routing(...n);
else if (mode === "interrupt") res = await interrupt(...n);
else throw new Error("mode: agents|routing|interrupt");
console.log(JSON.stringify(res));
