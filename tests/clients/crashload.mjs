// crashload.mjs — load for serve_kill_loop.sh: $N_AGENTS agents each send
// turn after turn of a growing conversation (every turn ends in a cache
// write of up to a few MB) until the server goes away; errors
// from a killed server are expected and ignored. Writes nothing.
import { request, sleep } from "./live_lib.mjs";

const N = parseInt(process.env.N_AGENTS || "8", 10);
const base = (i) => `Agent ${i} keeps a log: ` + Array.from({ length: 30 + 15 * i }, (_, k) => `entry ${k}`).join("; ");
async function agent(i) {
  let conv = base(i);
  for (let t = 0; t < 50; t++) {
    try {
      // Odd agents start a new agent each turn: a whole new file (temp file
      // + rename) rather than an append, so kills also land in those.
      const id = i % 2 ? `kill-${i}-${process.env.ROUND}-${t}` : `kill-${i}`;
      const r = await request("chat", id, conv, 6, t % 2 === 1);
      if (r.status !== 200) { await sleep(20); continue; }
      conv += " " + r.text + ` Turn ${t}.`;
      if (conv.length > 12000) conv = base(i);
    } catch { await sleep(20); }
  }
}
await Promise.all(Array.from({ length: N }, (_, i) => agent(i)));
