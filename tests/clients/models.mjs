// models.mjs — swaps under load, with the real OpenAI client: 8 agents
// stream continuously (no model named: the default) while the default model
// is swapped back and forth SWAPS times (default 20). Every stream must
// either complete on one model (every chunk names the same model, a finish
// reason at the end) or end with a clean error; nothing may hang, no
// sequence may stay running, and after each swap the agents that ran on the
// old model have a cache file of it on disk.
// Env: AGENTMEM_URL, ADMIN_KEY, CACHE_DIR, MODELS ("llama,qwen"), SWAPS.
import OpenAI from "../npm/node_modules/openai/index.mjs";
import fs from "node:fs";

const url = process.env.AGENTMEM_URL;
const admin = process.env.ADMIN_KEY;
const cacheDir = process.env.CACHE_DIR;
const models = (process.env.MODELS || "llama,qwen").split(",");
const SWAPS = parseInt(process.env.SWAPS || "20", 10);
let failures = 0;
function check(cond, what) {
  if (!cond) { failures++; console.error("FAIL " + what); } else console.error("ok   " + what);
}
const client = new OpenAI({ baseURL: url + "/v1", apiKey: "none", maxRetries: 0, timeout: 60000 });

let stop = false;
const stats = { done: 0, errors: 0, mixed: 0, noFinish: 0, byModel: {} };
async function agent(i) {
  let turn = 0;
  while (!stop) {
    turn++;
    const seen = new Set();
    let finish = null;
    try {
      const s = await client.chat.completions.create(
        { messages: [{ role: "user", content: `agent ${i} turn ${turn}: ` + "tell me about the weather ".repeat(2 + (i % 4)) },
          ], max_tokens: 24, temperature: 0, stream: true, ignore_eos: true },
        { headers: { "x-agent-id": `load-${i}` } });
      for await (const c of s) {
        seen.add(c.model);
        if (c.choices.length && c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
      }
      if (seen.size !== 1) stats.mixed++;
      if (!finish) stats.noFinish++;
      const m = [...seen][0];
      stats.byModel[m] = (stats.byModel[m] || 0) + 1;
      stats.done++;
    } catch (e) {
      // A clean error is an HTTP error answer (the client raises APIError
      // with a status) — never a dropped connection.
      if (e instanceof OpenAI.APIError && e.status) stats.errors++;
      else { stats.noFinish++; console.error("  stream broke: " + e.message); }
    }
  }
}

async function swap(to) {
  const r = await fetch(url + "/admin/models/swap", {
    method: "POST", headers: { "content-type": "application/json", "x-admin-key": admin },
    body: JSON.stringify({ model: to, drain_timeout_s: 2 }) });
  return { status: r.status, body: await r.json() };
}

function modelDirs() {
  return fs.readdirSync(cacheDir).filter((d) => /^[0-9a-f]{32}$/.test(d));
}

const runners = Array.from({ length: 8 }, (_, i) => agent(i));
await new Promise((r) => setTimeout(r, 300));
let swapFailures = 0, lostTotal = 0, missingFiles = 0, longest = 0;
for (let k = 0; k < SWAPS; k++) {
  const to = models[(k + 1) % models.length];
  const t0 = Date.now();
  const r = await swap(to);
  longest = Math.max(longest, Date.now() - t0);
  if (r.status !== 200) { swapFailures++; console.error("  swap: " + JSON.stringify(r)); continue; }
  lostTotal += r.body.caches_lost.length;
  // Every agent that has run must have a cache file in some model directory
  // once a swap has flushed (the old model's files are written before its
  // weights go).
  const names = new Set();
  for (const d of modelDirs()) for (const f of fs.readdirSync(`${cacheDir}/${d}`)) names.add(f);
  for (let i = 0; i < 8; i++)
    if (stats.done > 8 && ![...names].some((n) => n.endsWith(`load-${i}.amkv`))) missingFiles++;
  await new Promise((r) => setTimeout(r, 100));
}
stop = true;
await Promise.all(runners);

check(swapFailures === 0, `${SWAPS} swaps under load succeeded (${swapFailures} failed, longest ${longest} ms)`);
check(stats.mixed === 0, `no stream mixed two models (${stats.mixed})`);
check(stats.noFinish === 0, `every stream ended with a finish reason or a clean error (${stats.noFinish} did not)`);
check(stats.errors === 0, `no request was refused during swaps (${stats.errors} errors)`);
check(Object.keys(stats.byModel).length === models.length,
      `streams ran on every model: ${JSON.stringify(stats.byModel)} (${stats.done} in all)`);
check(lostTotal === 0, `no cache lost in swaps (${lostTotal})`);
check(missingFiles === 0, `every agent's cache is on disk after each swap (${missingFiles} missing)`);
const m = await (await fetch(url + "/metrics")).text();
const val = (n) => parseFloat((m.split("\n").find((l) => l.startsWith(n + " ")) || "x NaN").split(" ").pop());
check(val("agentmem_running_sequences") === 0, "no sequence left running");
check(val("agentmem_model_swaps_total") >= SWAPS, `swaps counted (${val("agentmem_model_swaps_total")})`);
process.exit(failures ? 1 : 0);
