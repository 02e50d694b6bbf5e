// budget.mjs — a fixed, shuffled sequence of turns for $N_AGENTS agents with
// different long contexts against $AGENTMEM_URL; writes every answer and its
// usage to $OUT (JSON), and while it runs samples agentmem_kv_bytes_used
// and the server's VmRSS/VmHWM (/proc/$SERVER_PID/status) every 20 ms.
// serve_budget.sh runs it once with an unlimited pool and once with a small
// --kv-budget and compares.
import fs from "node:fs";
import { metrics, request, rng, sleep } from "./live_lib.mjs";

const N = parseInt(process.env.N_AGENTS, 10);
const rand = rng(5);
const topics = ["rivers", "engines", "gardens", "stars", "ships", "bread", "clocks", "bridges", "owls", "glass",
                "maps", "bells", "salt", "kites", "wool", "caves"];
const ctx = (i) => `Agent ${i} notes on ${topics[i % topics.length]}: ` +
  Array.from({ length: 60 + 9 * i }, (_, k) => `${topics[(i + k) % topics.length]} ${k}`).join(", ");
// Two turns for every agent, the second turns in a shuffled order after all
// first turns, so each agent has been pushed out of the pool in between.
const order = [];
for (let i = 0; i < N; i++) order.push([i, 0]);
const second = Array.from({ length: N }, (_, i) => [i, 1]);
for (let i = second.length - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [second[i], second[j]] = [second[j], second[i]]; }
order.push(...second);

let maxPool = 0, maxRss = 0, maxHwm = 0, done = false;
const pid = process.env.SERVER_PID;
const kb = (f) => { const m = new RegExp(`^${f}:\\s+(\\d+) kB`, "m").exec(fs.readFileSync(`/proc/${pid}/status`, "utf8")); return m ? +m[1] : 0; };
const sampler = (async () => {
  while (!done) {
    maxPool = Math.max(maxPool, (await metrics()).agentmem_kv_bytes_used);
    maxRss = Math.max(maxRss, kb("VmRSS"));
    maxHwm = Math.max(maxHwm, kb("VmHWM"));
    await sleep(20);
  }
})();
const results = {};
for (const [i, turn] of order) {
  const prompt = turn === 0 ? ctx(i) : ctx(i) + " " + results[`${i}/0`].text + " And then?";
  const r = await request("chat", `budget-${i}`, prompt, 8, false);
  results[`${i}/${turn}`] = { status: r.status, text: r.text, usage: r.usage, error: r.error };
}
done = true;
await sampler;
fs.writeFileSync(process.env.OUT, JSON.stringify({ results, maxPool, maxRss, maxHwm }));
