// bench/llamacpp.mjs — llama.cpp side by side, through node-llama-cpp (its
// prebuilt per-CPU libraries, bench/package.json pins the version): loads a
// GGUF file on the CPU with THREADS threads and measures, like llama-bench
// and llama-batched-bench (the same lines as `agentmem bench`, same names):
//   pp  — prompt processing: one PP-token prefill, tok/s;
//   tg  — generation: TG single-token decode steps after a 1-token prompt,
//         timed from the first generated token to the last, tok/s;
//   both at every depth D of DEPTHS ("pp512 @ d4096", "tg128 @ d4096"): on
//         top of D cached tokens (prefilled once, untimed; each repetition's
//         tokens are erased again), with the KV cache in KV (f16, q8_0,
//         q4_0: node-llama-cpp's experimentalKvCache{Key,Value}Type);
//   seqs — for each S of SEQS ("4x tg128 @ d1024"): S sequences of one
//         context, each with a SEQ_PROMPT-token prompt prefilled first
//         (untimed), then SEQ_GEN decode steps of all S evaluated at once
//         (node-llama-cpp batches the pending tokens of all sequences into
//         one llama_decode per step); aggregate tok/s = S*SEQ_GEN / time;
//   ttft — cold time to first token of an N-token prompt (one prefill plus
//         the first sampled token), one value per N in TTFT.
// Usage: node bench/llamacpp.mjs MODEL.gguf
// Environment: THREADS (2), PP (512), TG (128), REPS (3), DEPTHS ("0"), KV
// (f16), SEQS ("" = none), SEQ_PROMPT (1024), SEQ_GEN (128), TTFT ("" =
// none, else a list of token counts), CTX (what the tests need, + 64).
// Prints one JSON object on stdout: {"ok": true, "version", "pp", "tg",
// "pp_sd", "tg_sd" (depth 0), "tests": [{"test", "kind", "n", "depth",
// "seqs", "batched", "tokens", "tps", "sd"}], "ttft_ms": {"N": ms}} or {"ok": false,
// "error": "..."}; it always exits 0, so that a missing or failing llama.cpp
// never fails a bench.
const model = process.argv[2];
const env = (k, d) => (process.env[k] && process.env[k].trim() !== "" ? process.env[k] : d);
const int = (k, d) => parseInt(env(k, d), 10);
const list = (k, d) => env(k, d).split(/[\s,]+/).filter(Boolean).map((x) => parseInt(x, 10));
const THREADS = int("THREADS", "2"), PP = int("PP", "512"), TG = int("TG", "128"), REPS = int("REPS", "3");
const TTFT = list("TTFT", ""), DEPTHS = [...new Set(list("DEPTHS", "0"))].sort((a, b) => a - b);
const SEQS = [...new Set(list("SEQS", ""))].sort((a, b) => a - b);
const SEQ_PROMPT = int("SEQ_PROMPT", "1024"), SEQ_GEN = int("SEQ_GEN", "128");
const KV = { f16: "F16", q8_0: "Q8_0", q4_0: "Q4_0" }[env("KV", "f16")];
const CTX = int("CTX", String(Math.max(PP + TG, DEPTHS[DEPTHS.length - 1] + Math.max(PP, TG) + 1, ...TTFT, 0) + 64));

function out(o) { console.log(JSON.stringify(o)); process.exit(0); }
const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const sd = (a) => (a.length < 2 ? 0 : Math.sqrt(a.reduce((s, x) => s + (x - mean(a)) ** 2, 0) / (a.length - 1)));
const r1 = (x) => Math.round(x * 10) / 10;
if (!KV) out({ ok: false, error: `KV wants f16, q8_0 or q4_0, not '${process.env.KV}'` });
if ([PP, TG, REPS, SEQ_PROMPT, SEQ_GEN, ...DEPTHS, ...SEQS].some((x) => !Number.isInteger(x) || x < 0))
  out({ ok: false, error: "PP, TG, REPS, DEPTHS, SEQS, SEQ_PROMPT and SEQ_GEN want non-negative integers" });

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
  const kvOpts = { experimentalKvCacheKeyType: KV, experimentalKvCacheValueType: KV };
  let ctx = await m.createContext({ contextSize: CTX, threads: THREADS, batchSize: 512, sequences: 1, ...kvOpts });
  const seq = ctx.getSequence();
  // Token ids of a fixed text, tiled to n and shifted by `off` (the values do
  // not change the cost; the shift keeps sequences from being equal).
  const base = m.tokenize("the quick brown fox jumps over the lazy dog and keeps running far away ".repeat(32));
  const tokens = (n, off = 0) => Array.from({ length: n }, (_, i) => base[(i + off) % base.length]);
  const tests = [];
  const row = (kind, n, depth, seqs, batched, v) => {
    const at = depth > 0 || batched ? ` @ d${depth}` : "";
    tests.push({ test: `${batched ? seqs + "x " : ""}${kind}${n}${at}`, kind, n, depth, seqs, batched,
                 tokens: n * seqs, tps: r1(mean(v)), sd: r1(sd(v)) });
  };
  // Back to `depth` cached tokens (erases what a repetition added).
  const cut = async (s, depth) => {
    if (depth === 0) await s.clearHistory();
    else if (s.nextTokenIndex > depth) await s.eraseContextTokenRanges([{ start: depth, end: s.nextTokenIndex }]);
  };

  async function ttft(n) { // prefill n tokens, sample one
    await seq.clearHistory();
    const t0 = performance.now();
    for await (const _ of seq.evaluate(tokens(n), { temperature: 0 })) break;
    return performance.now() - t0;
  }
  async function pp(n, depth) {
    const t0 = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(tokens(n, depth));
    const tps = n / ((performance.now() - t0) / 1000);
    await cut(seq, depth);
    return tps;
  }
  async function tg(n, depth) { // n decode steps, timed first token to last
    let i = 0, t1 = 0;
    for await (const _ of seq.evaluate(tokens(1, depth), { temperature: 0 })) {
      if (i === 0) t1 = performance.now();
      if (++i > n) break;
    }
    const tps = n / ((performance.now() - t1) / 1000);
    await cut(seq, depth);
    return tps;
  }
  await seq.clearHistory();
  await pp(32, 0); // warm-up: pages the weights in
  for (const d of DEPTHS) {
    if (d > seq.nextTokenIndex) await seq.evaluateWithoutGeneratingNewTokens(tokens(d - seq.nextTokenIndex, seq.nextTokenIndex));
    const ppv = [], tgv = [];
    for (let r = 0; r < REPS; r++) { if (PP > 0) ppv.push(await pp(PP, d)); if (TG > 0) tgv.push(await tg(TG, d)); }
    if (ppv.length) row("pp", PP, d, 1, false, ppv);
    if (tgv.length) row("tg", TG, d, 1, false, tgv);
  }
  const ttftMs = {};
  for (const n of TTFT) ttftMs[n] = r1(await ttft(n));

  if (SEQS.length) {
    // S sequences of one context; every step of every sequence is one
    // pending token, dispatched together on the next event-loop cycle.
    await ctx.dispose();
    const smax = SEQS[SEQS.length - 1];
    ctx = await m.createContext({ contextSize: SEQ_PROMPT + SEQ_GEN + 64, threads: THREADS, batchSize: 512,
                                  sequences: smax, ...kvOpts });
    const seqs = Array.from({ length: smax }, () => ctx.getSequence());
    for (let j = 0; j < smax; j++) await seqs[j].evaluateWithoutGeneratingNewTokens(tokens(SEQ_PROMPT, 7 * j));
    const decode = async (s, n) => { // n steps; the first evaluates one new token per sequence
      let i = 0;
      for await (const _ of s.evaluate(tokens(1, 3), { temperature: 0 })) if (++i >= n) break;
    };
    // warm-up: the first batched steps of a new context are slower (its
    // multi-sequence graph is built then)
    await Promise.all(seqs.map((s) => decode(s, 2)));
    for (const s of seqs) await cut(s, SEQ_PROMPT);
    for (const S of SEQS) {
      const v = [];
      for (let r = 0; r < REPS; r++) {
        const t0 = performance.now();
        await Promise.all(seqs.slice(0, S).map((s) => decode(s, SEQ_GEN)));
        v.push((S * SEQ_GEN) / ((performance.now() - t0) / 1000));
        for (const s of seqs.slice(0, S)) await cut(s, SEQ_PROMPT);
      }
      row("tg", SEQ_GEN, SEQ_PROMPT, S, true, v);
    }
  }
  const short = (k) => tests.find((t) => t.kind === k && t.depth === 0 && !t.batched);
  out({ ok: true, version, threads: THREADS, reps: REPS, kv: env("KV", "f16"), pp_tokens: PP, tg_tokens: TG,
        pp: short("pp") ? short("pp").tps : null, pp_sd: short("pp") ? short("pp").sd : null,
        tg: short("tg") ? short("tg").tps : null, tg_sd: short("tg") ? short("tg").sd : null,
        tests, ttft_ms: ttftMs });
} catch (e) {
  out({ ok: false, error: String(e && e.message ? e.message : e).split("\n")[0] });
}
