// bench/ttft_report.mjs — the tables of bench/ttft.sh from its JSON
// (bench/out/ttft.json): TTFT per KV type and size, the warm target, save
// time vs new tokens and vs context, agents in a 4 GiB pool at 4K tokens.
// Usage: node bench/ttft_report.mjs bench/out/ttft.json
import { readFileSync } from "node:fs";
const j = JSON.parse(readFileSync(process.argv[2], "utf8"));
const median = (a) => { const s = a.filter((x) => x != null).sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : null; };
const f = (x, d = 1) => (x == null || Number.isNaN(x) ? "-" : Number(x).toFixed(d));
const row = (w, cells) => console.log(cells.map((c, i) => String(c).padStart(w[i])).join(" "));
const llama = j.llamacpp || { ok: false, error: "not run" };
const rows = j.rows;

console.log(`\nTTFT (ms), median of ${j.reps} (cold: median of ${j.reps} below ${j.cold_long} tokens, one run from there on)`);
let w = [6, 7, 10, 9, 10, 10, 10, 11, 12, 12];
row(w, ["kv", "tokens", "cold", "warm", "warm_disk", "restart", "extend", "llama_cold", "file_B/tok", "pool_B/tok"]);
for (const r of rows) {
  const x = r.run;
  const lc = llama.ok ? llama.ttft_ms[x.tokens] : null;
  row(w, [r.kv, x.tokens, f(x.cold_ms), f(x.warm_ms), f(x.warm_disk_ms), f(median(r.restart.map((q) => q.restart_ms))),
          f(x.extend_ms), f(lc), f(x.file_bytes_per_token, 0), f(x.pool_bytes_per_token, 0)]);
}
const drops = [...new Set(rows.map((r) => r.run.drop_method))];
console.log(`warm_disk: page cache dropped with ${drops.map((d) => d || "nothing (not allowed: column empty)").join(", ")}; ` +
            `restart: a new server process on the same cache dir, file in the page cache, cached_tokens checked`);
console.log(`restart cached_tokens: ${rows.map((r) => `${r.kv}/${r.run.tokens} ${r.restart.map((q) => q.cached_tokens + "/" + q.prompt_tokens).join(" ")}`).join("; ")}`);
console.log(llama.ok
  ? `llama_cold: llama.cpp via node-llama-cpp ${llama.version}, ${llama.threads} threads, the same GGUF file, one run per size`
  : `llama_cold: skipped — ${llama.error}`);
console.log("file_B/tok: cache file size after the first turn / prompt tokens; pool_B/tok: the hot agent's pool blocks (GET /v1/agents/{id} bytes_memory) / its tokens (block-rounded: small sizes read high)");

console.log("\nwarm target: file bytes / measured read bandwidth + one decode step at that context");
w = [6, 7, 9, 11, 10, 8, 10, 10, 9, 11, 12, 10];
row(w, ["kv", "tokens", "file_MiB", "read_MiB/s", "decode_ms", "gap_ms", "target_ms", "warm_ms", "x_target", "disk_MiB/s", "disk_target", "warm_disk"]);
for (const r of rows) {
  const x = r.run;
  row(w, [r.kv, x.tokens, f(x.warm_file_bytes / 1048576, 2), f(x.read_mib_s_cache, 0), f(x.decode_ms), f(x.decode_gap_ms_client), f(x.warm_target_ms),
          f(x.warm_ms), f(x.warm_ms / x.warm_target_ms, 2), f(x.read_mib_s_disk, 0), f(x.warm_disk_target_ms), f(x.warm_disk_ms)]);
}
console.log("read_MiB/s: the evicted file read again in 1 MiB reads (page cache); disk_MiB/s: after dropping the page cache;");
console.log("decode_ms: the server's inter-token time (/metrics agentmem_inter_token_latency_seconds) of the warm request at that context;");
console.log("gap_ms: the same stream's gaps between chunks seen by the client (the server times tokens as its HTTP thread takes them,");
console.log("so a burst reads as ~0 there); x_target: warm_ms / target_ms");

console.log("\nextend target: TTFT of the +64 turn on a hot cache <= the engine alone prefilling that turn's new tokens at that depth + 20 ms");
w = [6, 7, 5, 12, 11, 10, 10, 10, 9];
row(w, ["kv", "tokens", "new", "engine_ms", "target_ms", "extend_ms", "over_ms", "server_ms", "met"]);
for (const e of j.extend_ref || []) {
  const t = e.bench.tests.find((x) => x.kind === "pp" && x.depth === e.tokens);
  const r = rows.find((q) => q.kv === e.kv && q.run.tokens === e.tokens);
  if (!t || !r) continue;
  const eng = (1000 * t.n) / t.tps, ext = r.run.extend_ms;
  row(w, [e.kv, e.tokens, t.n, f(eng), f(eng + 20), f(ext), f(ext - eng), f(r.run.extend_overhead_ms),
           ext <= eng + 20 ? "yes" : "NO"]);
}
console.log("new: the extend turn's prompt tokens not cached (median); engine_ms: `agentmem bench -p NEW -d N --kv KV` (mean of 5, run right after that size's server runs), the same model and threads, no server; over_ms: extend - engine_ms;");
console.log("server_ms: median over the extend turns of TTFT - the server's own timings.prompt_ms of that request (what the server adds around the prefill, from the same request, immune to run-to-run drift)");

console.log("\nsave time per turn (end of the response -> the server's cache save counters move; /metrics, polled every 2 ms)");
console.log("new_tokens: prompt tokens not reused + 2 generated; save_bytes: agentmem_cache_save_bytes_total delta (blocks + logits);");
console.log("write: whole (first turn), extend (the +64 turns), append, or rewrite (the file compacted: save_bytes = file size)");
w = [6, 8, 11, 9, 12, 9];
row(w, ["kv", "context", "new_tokens", "save_ms", "save_bytes", "write"]);
for (const r of rows) {
  const x = r.run;
  row(w, [r.kv, x.prompt_tokens, x.prompt_tokens, f(x.save_first_ms), x.save_first_bytes, "whole"]);
  row(w, [r.kv, x.save_extend_context, x.save_extend_new_tokens, f(x.save_extend_ms), x.save_extend_bytes, "extend"]);
  for (const s of x.save_sweep)
    row(w, [r.kv, s.context, s.new_tokens, f(s.save_ms), s.save_bytes, s.save_bytes === s.file_bytes ? "rewrite" : "append"]);
}
for (const kv of [...new Set(rows.map((r) => r.kv))]) {
  const rs = rows.filter((r) => r.kv === kv);
  console.log(`${kv}: save vs context at +${rs[0].run.save_extend_new_tokens} new tokens: ` +
              rs.map((r) => `${r.run.tokens} -> ${f(r.run.save_extend_ms)} ms`).join(", "));
  const big = rs[rs.length - 1].run;
  console.log(`${kv}: save vs new tokens at ~${big.tokens} context: ` +
              big.save_sweep.map((s) => `+${s.new_tokens} -> ${f(s.save_ms)} ms`).join(", "));
}

console.log("\nagents that fit a 4 GiB KV pool at 4096 tokens: floor(4 GiB / pool bytes of one 4096-token agent)");
for (const kv of [...new Set(rows.map((r) => r.kv))]) {
  const rs = rows.filter((r) => r.kv === kv);
  const at = rs.find((r) => r.run.tokens === 4096);
  const per = at ? at.run.pool_bytes : rs[rs.length - 1].run.pool_bytes_per_token * 4096;
  const how = at ? "measured at 4096 tokens" : `pool bytes/token at ${rs[rs.length - 1].run.tokens} tokens x 4096`;
  console.log(`${kv}: ${Math.floor(4 * 2 ** 30 / per)} agents (${f(per / 1048576, 1)} MiB each, ${how})`);
}
