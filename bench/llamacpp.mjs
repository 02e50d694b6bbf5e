// bench/llamacpp.mjs — llama.cpp side by side, through node-llama-cpp (its
// prebuilt per-CPU libraries, bench/package.json pins the version): loads a
// GGUF file on the CPU with THREADS threads and measures, like llama-bench,
//   pp  — prompt processing: one PP-token prefill of an empty sequence, tok/s;
//   tg  — generation: TG single-token decode steps after a 1-token prompt,
//         timed from the first generated token to the last, tok/s;
//   ttft — cold time to first token of an N-token prompt (one prefill plus
//         the first sampled token), one value per N in TTFT.
// Usage: node bench/llamacpp.mjs MODEL.gguf
// Environment: THREADS (2), PP (512), TG (128), REPS (3), TTFT ("" = none,
// else a list of token counts), CTX (largest of PP+TG and TTFT, + 64).
// Prints one JSON object on stdout: {"ok": true, "version", "pp", "tg",
// "pp_sd", "tg_sd", "ttft_ms": {"N": ms}} or {"ok": false, "error": "..."};
// it always exits 0, so that a missing or failing llama.cpp never fails a bench.
const model = process.argv[2];
const env = (k, d) => (process.env[k] && process.env[k].trim() !== "" ? process.env[k] : d);
const THREADS = parseInt(env("THREADS", "2"), 10), PP = parseInt(env("PP", "512"), 10);
const TG = parseInt(env("TG", "128"), 10), REPS = parseInt(env("REPS", "3"), 10);
const TTFT = env("TTFT", "").split(/\s+/).filter(Boolean).map((x) => parseInt(x, 10));
const CTX = parseInt(env("CTX", String(Math.max(PP + TG, ...TTFT, 0) + 64)), 10);

function out(o) { console.log(JSON.stringify(o)); process.exit(0); }
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const sd = (a) => (a.length < 2 ? 0 : Math.sqrt(a.reduce((s, x) => s + (x - mean(a)) ** 2, 0) / (a.length - 1)));
const r1 = (x) => Math.round(x * 10) / 10;

let lib;
try {
  lib = await import("node-llama-cpp");
} catch (e) {
  out({ ok: false, error: "node-llama-cpp is not installed (cd bench && npm install): " + e.message.split("\n")[0] });
}
try {
  const version = JSON.parse((await import("node:fs")).readFileSync(
    new URL("./node_modules/node-llama-cpp/package.json", import.meta.url), "utf8")).version;
  // build: "never" — use the prebuilt library only; never compile llama.cpp here.
  const llama = await lib.getLlama({ gpu: false, build: "never", logLevel: "error" });
  const m = await llama.loadModel({ modelPath: model, gpuLayers: 0 });
  const ctx = await m.createContext({ contextSize: CTX, threads: THREADS, batchSize: 512, sequences: 1 });
  const seq = ctx.getSequence();
  // Token ids of a fixed text, tiled to n (the values do not change the cost).
  const base = m.tokenize("the quick brown fox jumps over the lazy dog and keeps running far away ".repeat(32));
  const tokens = (n) => Array.from({ length: n }, (_, i) => base[i % base.length]);

  async function ttft(n) { // prefill n tokens, sample one
    await seq.clearHistory();
    const t0 = performance.now();
    for await (const _ of seq.evaluate(tokens(n), { temperature: 0 })) break;
    return performance.now() - t0;
  }
  async function pp(n) {
    await seq.clearHistory();
    const t0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(tokens(n));
    return n / ((performance.now() - t0) / 1000);
  }
  async function tg(n) { // n decode steps, timed first token to last
    await seq.clearHistory();
    let i = 0, t1 = 0;
    for await (const _ of seq.evaluate(tokens(1), { temperature: 0 })) {
      if (i === 0) t1 = performance.now();
      if (++i > n) break;
    }
    return n / ((performance.now() - t1) / 1000);
  }
  await pp(32); // warm-up: pages the weights in
  const ppv = [], tgv = [];
  for (let r = 0; r < REPS; r++) { if (PP > 0) ppv.push(await pp(PP)); if (TG > 0) tgv.push(await tg(TG)); }
  const ttftMs = {};
  for (const n of TTFT) ttftMs[n] = r1(await ttft(n));
  out({ ok: true, version, threads: THREADS, reps: REPS, pp_tokens: PP, tg_tokens: TG,
        pp: ppv.length ? r1(mean(ppv)) : null, pp_sd: ppv.length ? r1(sd(ppv)) : null,
        tg: tgv.length ? r1(mean(tgv)) : null, tg_sd: tgv.length ? r1(sd(tgv)) : null, ttft_ms: ttftMs });
} catch (e) {
  out({ ok: false, error: String(e && e.message ? e.message : e).split("\n")[0] });
}
