// bench/quality_report.mjs — the table of bench/quality.sh from its JSON.
// Usage: node bench/quality_report.mjs bench/out/quality.json
// Each row's per-chunk mean NLL comes from the running estimates that
// `agentmem perplexity` prints ([k] = exp of the mean over chunks 1..k);
// confidence intervals are percentile bootstraps over chunks (2000
// resamples, fixed seed), paired where two rows are compared (the same chunks
// drawn for both).
import { readFileSync } from "node:fs";

const j = JSON.parse(readFileSync(process.argv[2], "utf8"));
const B = 2000;

function rng(seed) { // mulberry32
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const chunks = (running) => running.map((p, i) => (i + 1) * Math.log(p) - (i > 0 ? i * Math.log(running[i - 1]) : 0));
const mean = (a) => a.reduce((s, x) => s + x, 0) / a.length;
const pct = (a, q) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };

// f(sample indices) over B resamples of n chunks -> [2.5%, 97.5%]
function boot(n, f, seed = 1) {
  const r = rng(seed), out = [];
  for (let b = 0; b < B; b++) {
    const idx = Array.from({ length: n }, () => Math.floor(r() * n));
    out.push(f(idx));
  }
  return [pct(out, 0.025), pct(out, 0.975)];
}
const pplOf = (c, idx) => Math.exp(mean(idx.map((i) => c[i])));

const rows = j.rows.map((r) => ({ ...r, c: chunks(r.running) }));
const f2 = (x) => x.toFixed(2), pc = (x) => (x >= 0 ? "+" : "") + (100 * x).toFixed(2) + "%";
console.log(`perplexity of ${j.hf} on its held-out text: ${j.tokens} token ids; 95% CI: bootstrap over chunks`);
console.log("   weights  MiB    kv  chunk  n      ppl       95% CI            vs f16 KV (95% CI)         s");
for (const r of rows) {
  const n = r.c.length, all = [...Array(n).keys()];
  const ppl = pplOf(r.c, all), [lo, hi] = boot(n, (idx) => pplOf(r.c, idx));
  const base = rows.find((x) => x.type === r.type && x.ctx === r.ctx && x.kv === "f16");
  let vs = "";
  if (base && base !== r && base.c.length === n) {
    const d = pplOf(r.c, all) / pplOf(base.c, all) - 1;
    const [dl, dh] = boot(n, (idx) => pplOf(r.c, idx) / pplOf(base.c, idx) - 1, 2);
    vs = `${pc(d)} (${pc(dl)} .. ${pc(dh)})`;
  }
  r.result = { chunks: n, ppl, ci: [lo, hi], vs_f16_kv: vs || null };
  console.log(`${r.type.padStart(10)} ${(r.bytes / 2 ** 20).toFixed(1).padStart(5)} ${r.kv.padStart(5)} ${String(r.ctx).padStart(6)} ${String(n).padStart(3)} ` +
              `${f2(ppl).padStart(8)}  ${(f2(lo) + " .. " + f2(hi)).padStart(16)}   ${vs.padEnd(26)} ${String(r.seconds).padStart(5)}`);
}
if (j.reference && j.reference.by_ctx) {
  console.log("\nreference: Hugging Face transformers, float32 from the bf16 weights, over the same chunks:");
  for (const [ctx, ref] of Object.entries(j.reference.by_ctx)) {
    const ours = rows.find((x) => x.type === "f16" && x.kv === "f16" && x.ctx === +ctx);
    if (!ours) continue;
    const n = ours.c.length, rc = ref.chunk_nll.slice(0, n), all = [...Array(n).keys()];
    const d = pplOf(ours.c, all) / pplOf(rc, all) - 1;
    const [dl, dh] = boot(n, (idx) => pplOf(ours.c, idx) / pplOf(rc, idx) - 1, 3);
    console.log(`  ${ctx}-token chunks: transformers ${f2(pplOf(rc, all))} (all ${ref.chunks} chunks: ${f2(ref.ppl)}); ` +
                `agentmem f16 weights, f16 KV ${f2(pplOf(ours.c, all))}: ${pc(d)} (${pc(dl)} .. ${pc(dh)})`);
  }
}
