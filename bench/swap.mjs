// bench/swap.mjs — hot swaps of the default model against a live server
// (driven by bench/swap.sh). Usage: node bench/swap.mjs URL ADMIN_KEY A B DROP
// where A is the default model's name, B the other, DROP 1 when the page
// cache can be dropped (root). Prints one JSON line per measurement:
//   {"kind":"idle", "to", "cache":"cold"|"page", "load_s", "swap_s", "first_token_s"}
//     first_token_s: from the swap request to the first token the new model
//     gives (one-token requests sent every 25 ms meanwhile: the old model
//     answers them while the new one loads, then they are held and go to it);
//   {"kind":"stream", "to", "max_gap_ms", "tokens", "finish"}
//     the longest pause between two tokens of a stream running across a swap.
import { execSync } from "node:child_process";

const [url, admin, A, B, DROP] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now() / 1000;

async function swap(to) {
  const r = await fetch(url + "/admin/models/swap", {
    method: "POST", headers: { "content-type": "application/json", "x-admin-key": admin },
    body: JSON.stringify({ model: to, drain_timeout_s: 300 }) });
  const j = await r.json();
  if (r.status !== 200) throw new Error(`swap to ${to}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}

// Streams from the default model; returns chunk arrival times and the finish reason.
async function stream(maxTokens, agent) {
  const r = await fetch(url + "/v1/chat/completions", {
    method: "POST", headers: { "content-type": "application/json", "x-agent-id": agent },
    body: JSON.stringify({ messages: [{ role: "user", content: "Tell me a long story about ships." }],
                           max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true }) });
  if (r.status !== 200) throw new Error(`stream: ${r.status} ${await r.text()}`);
  const times = [];
  let finish = null, model = null, buf = "";
  const dec = new TextDecoder();
  for await (const part of r.body) {
    buf += dec.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const ev = buf.slice(0, i); buf = buf.slice(i + 2);
      if (!ev.startsWith("data: ") || ev === "data: [DONE]") continue;
      const c = JSON.parse(ev.slice(6));
      model = c.model;
      if (c.choices.length && c.choices[0].delta.content !== undefined) times.push(now());
      if (c.choices.length && c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
    }
  }
  return { times, finish, model };
}

function dropCaches() {
  if (DROP !== "1") return false;
  try { execSync("sync; echo 1 > /proc/sys/vm/drop_caches", { stdio: "ignore" }); return true; } catch { return false; }
}

async function idle(to, cold) {
  const dropped = cold ? dropCaches() : false;
  const t0 = now();
  const sw = swap(to);
  // The old model serves while the new one loads, then requests are held
  // during the drain: poll with one-token requests until the new one answers.
  let first = null, polls = 0;
  while (first === null && polls < 2000) {
    const s = await stream(1, "swap-poll");
    polls++;
    if (s.model === to && s.times.length) first = s.times[0] - t0;
    else await sleep(25);
  }
  const rep = await sw;
  console.log(JSON.stringify({ kind: "idle", to, cache: cold ? (dropped ? "cold" : "cold?") : "page",
    load_s: rep.load_s, swap_s: rep.swap_s, first_token_s: first, polls }));
}

async function across(to) {
  const st = stream(96, "swap-stream");
  await sleep(1500); // decoding
  const rep = await swap(to);
  const s = await st;
  let gap = 0;
  for (let i = 1; i < s.times.length; i++) gap = Math.max(gap, s.times[i] - s.times[i - 1]);
  console.log(JSON.stringify({ kind: "stream", to, max_gap_ms: gap * 1000, tokens: s.times.length,
    finish: s.finish, swap_s: rep.swap_s, drain_s: rep.drain_s }));
}

await stream(4, "warm-up");
await idle(B, true);   // B from disk
await idle(A, false);  // A was just unloaded: from the page cache
await idle(B, false);
await idle(A, true);   // A from disk
await across(B);
await across(A);
