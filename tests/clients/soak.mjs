// soak.mjs — mixed load for $SOAK_S seconds (default 15; SOAK_S=60 for the
// full run) against $AGENTMEM_URL (server pid $SERVER_PID): chat,
// completions and messages, streamed and whole, 12 agents, ~10% of the
// streams cut by their client mid-stream. Bugs it is for: a request that
// fails or hangs under mixed load (anything but a 200 is unexpected here);
// a sequence, queue entry or running mark leaked by a cancelled or finished
// request; KV blocks that no agent owns (kv_bytes_used above what the
// agents report, or not 0 once every agent is evicted); memory that grows
// with the number of requests. RSS tolerance: the pool keeps a block's
// storage once allocated (kv.c reuses it), so VmRSS follows the pool's
// high-water mark; after the soak VmRSS may exceed the baseline (taken after
// a 5 s warm-up of the same mix) by the pool's growth over its baseline
// (kv_bytes_used sampled every 20 ms) plus RSS_TOL_MB (default 16 MiB: glibc
// grows up to 8 arenas per core as HTTP threads come and go, which levels
// off ~10 MiB above a short warm-up; a leak of 128 KiB per request fails).
import fs from "node:fs";
import { agents, check, failures, metrics, request, rng, settled, sleep, url } from "./live_lib.mjs";

const SOAK = parseFloat(process.env.SOAK_S || "15");
const TOL = parseFloat(process.env.RSS_TOL_MB || "16");
const pid = process.env.SERVER_PID;
const rss = () => +/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))[1];
const apis = ["chat", "completions", "messages"];
const prompts = Array.from({ length: 8 }, (_, i) => `Soak ${i}: ` + "tell me about the weather ".repeat(5 + i * 12));

async function run(seconds, seed) {
  const rand = rng(seed);
  const t0 = Date.now();
  const st = { n: 0, cancelled: 0, unexpected: [] };
  async function worker(w) {
    while (Date.now() - t0 < seconds * 1000) {
      const k = st.n++;
      const api = apis[Math.floor(rand() * 3)];
      const stream = rand() < 0.6;
      const cancel = stream && rand() < 0.17; // ~10% of all requests
      const agent = `soak-${Math.floor(rand() * 12)}`;
      const opts = cancel ? { abortAfterEvents: 1 + Math.floor(rand() * 6) } : {};
      try {
        const r = await request(api, agent, prompts[k % 8] + ` #${k}`, 4 + Math.floor(rand() * 36), stream, opts);
        if (r.aborted) st.cancelled++;
        else if (r.status !== 200 || r.error) st.unexpected.push(`${api} ${stream ? "stream" : "whole"}: ${r.status} ${r.error || r.text.slice(0, 200)}`);
      } catch (e) { st.unexpected.push(String(e)); }
    }
  }
  await Promise.all([0, 1, 2, 3, 4, 5].map(worker));
  return st;
}

const warm = await run(5, 1);
check(warm.unexpected.length === 0, `warm-up: ${warm.n} requests, ${warm.unexpected.length} unexpected`);
check((await settled(2000)) >= 0, "warm-up settles");
await sleep(300);
const base = rss();
const basePool = (await metrics()).agentmem_kv_bytes_used;
let maxPool = basePool, soaking = true;
const sampler = (async () => {
  while (soaking) { maxPool = Math.max(maxPool, (await metrics()).agentmem_kv_bytes_used); await sleep(20); }
})();
const st = await run(SOAK, 2);
soaking = false;
await sampler;
for (const u of st.unexpected.slice(0, 5)) console.error("  " + u);
check(st.unexpected.length === 0, `soak ${SOAK} s: ${st.n} requests, ${st.cancelled} cancelled, ${st.unexpected.length} unexpected`);
check(st.cancelled > 0, "some streams were cancelled");
const ms = await settled(2000);
check(ms >= 0, `no sequence running or queued, no agent running, within 2 s of the end (${ms} ms)`);
await sleep(300);
const end = rss();
const allowed = base + (maxPool - basePool) / 1024 + TOL * 1024;
if (process.env.SANITIZED === "1") console.error(`skip VmRSS bound under ASan (${end} kB, baseline ${base} kB)`);
else check(end <= allowed, `VmRSS ${end} kB after the soak, baseline ${base} kB, pool ${basePool >> 10} -> max ${maxPool >> 10} kB, ` +
  `allowed ${Math.round(allowed)} kB`);
const m = await metrics();
const list = await agents();
const owned = list.reduce((s, a) => s + a.bytes_memory, 0);
check(m.agentmem_kv_bytes_used <= owned, `kv_bytes_used ${m.agentmem_kv_bytes_used} within what the ${list.length} idle agents hold (${owned})`);
for (const a of list) await fetch(`${url}/v1/agents/${a.id}?evict_only=true`, { method: "DELETE" });
const after = (await metrics()).agentmem_kv_bytes_used;
check(after === 0, `every agent evicted: kv_bytes_used ${after} (want 0)`);
check((await fetch(url + "/health/ready")).status === 200, "server ready after the soak");
process.exit(failures ? 1 : 0);
