// bench/ttft.mjs — time to first token against a live agentmem server, for
// one prompt length: cold (full prefill), warm (the same prompt after the
// agent was evicted to disk, page cache warm, and again with the page cache
// dropped where allowed), extend (+64 new tokens on a hot cache), and the
// bytes each turn adds to the cache file (from /metrics).
// Usage: node bench/ttft.mjs URL TOKENS REPS [phase]   (phase: all|restart)
// Prints one JSON object per line.
const [url, tokensArg, repsArg, phase = "all"] = process.argv.slice(2);
const N = parseInt(tokensArg, 10), REPS = parseInt(repsArg, 10);

async function post(path, body, headers = {}) {
  const r = await fetch(url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

// A prompt of exactly n tokens: words from a fixed seed, trimmed with /tokenize.
let wordSeed = 12345;
function words(n) {
  const out = [];
  for (let i = 0; i < n; i++) {
    wordSeed = (wordSeed * 1103515245 + 12345) & 0x7fffffff;
    out.push("w" + (wordSeed % 5000).toString(36));
  }
  return out.join(" ");
}
async function promptOf(n, salt) {
  wordSeed = 12345 + 7919 * salt; // the same prompt for a salt in every phase and process
  const text = `agent ${salt}: ` + words(n);
  const t = await post("/tokenize", { content: text, add_special: false });
  const ids = t.tokens.slice(0, n - 1);
  const d = await post("/detokenize", { tokens: ids });
  return d.content;
}

// TTFT: from sending the request to the first streamed text chunk.
async function ttft(agent, prompt) {
  const t0 = performance.now();
  const r = await fetch(url + "/v1/completions", {
    method: "POST",
    headers: { "content-type": "application/json", "x-agent-id": agent },
    body: JSON.stringify({ prompt, max_tokens: 2, temperature: 0, stream: true, ignore_eos: true,
                           stream_options: { include_usage: true } }),
  });
  const reader = r.body.getReader();
  let first = 0, buf = "", cached = -1, promptTokens = -1;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += new TextDecoder().decode(value);
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i); buf = buf.slice(i + 2);
      if (!ev.startsWith("data: ") || ev === "data: [DONE]") continue;
      const j = JSON.parse(ev.slice(6));
      if (!first && j.choices && j.choices.length) first = performance.now();
      if (j.usage) {
        promptTokens = j.usage.prompt_tokens;
        cached = j.usage.prompt_tokens_details ? j.usage.prompt_tokens_details.cached_tokens : -1;
      }
    }
  }
  return { ms: (first || performance.now()) - t0, prompt_tokens: promptTokens, cached_tokens: cached };
}

async function metric(name) {
  const t = await (await fetch(url + "/metrics")).text();
  const m = t.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
  return m ? parseFloat(m.split(" ").pop()) : NaN;
}
const evict = (agent) => fetch(url + `/v1/agents/${agent}?evict_only=true`, { method: "DELETE" });
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };

if (phase === "restart") {
  // After a server restart: the agents primed by the "all" phase come back from disk.
  const res = [];
  for (let i = 0; i < REPS; i++) res.push(await ttft(`ttft-${N}-${i}`, await promptOf(N, i)));
  console.log(JSON.stringify({ tokens: N, phase: "restart", ms: median(res.map((r) => r.ms)),
                               cached: res.map((r) => r.cached_tokens) }));
  process.exit(0);
}
import { writeFileSync } from "node:fs";
// Drops the page cache (root only); false when the kernel refuses.
function dropCaches() {
  try { writeFileSync("/proc/sys/vm/drop_caches", "1"); return true; } catch { return false; }
}
const cold = [], warm = [], warmDisk = [], extend = [], saveBytes = [], saveMs = [], prompts = [];
let dropped = false;
for (let i = 0; i < REPS; i++) {
  const agent = `ttft-${N}-${i}`, p = await promptOf(N, i);
  prompts.push(p);
  const s0 = await metric("agentmem_cache_save_bytes_total");
  cold.push(await ttft(agent, p));
  await new Promise((r) => setTimeout(r, 300)); // write-behind finishes
  saveBytes.push((await metric("agentmem_cache_save_bytes_total")) - s0);
  await evict(agent);
  warm.push(await ttft(agent, p));
  await evict(agent);
  if (dropCaches()) { dropped = true; warmDisk.push(await ttft(agent, p)); }
  const e0 = await metric("agentmem_cache_save_bytes_total");
  extend.push(await ttft(agent, p + " " + words(64)));
  await new Promise((r) => setTimeout(r, 300));
  saveMs.push((await metric("agentmem_cache_save_bytes_total")) - e0);
}
console.log(JSON.stringify({
  tokens: N, prompt_tokens: cold[0].prompt_tokens,
  cold_ms: median(cold.map((r) => r.ms)), warm_ms: median(warm.map((r) => r.ms)),
  extend_ms: median(extend.map((r) => r.ms)),
  warm_disk_ms: dropped ? median(warmDisk.map((r) => r.ms)) : null,
  save_bytes_extend_turn: median(saveMs),
  warm_cached: warm.map((r) => r.cached_tokens), extend_cached: extend.map((r) => r.cached_tokens),
  save_bytes_first_turn: median(saveBytes),
}));
