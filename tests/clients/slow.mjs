// slow.mjs — slow and stuck clients against a server started with
// --conn-timeout $CONN_TIMEOUT (seconds) and --parallel 3, while a normal
// stream runs beside them. Bugs it is for:
// - a slow or stuck client holds up other requests or the scheduler (one
//   thread serving every connection, a generation that waits for its
//   reader): the normal stream beside them must give the text it gives
//   alone, as fast as alone give or take a few seconds;
// - a client that sends nothing (before or in the middle of its body), or
//   stops reading its stream, keeps its connection (and its sequence) for
//   ever: each must be closed within the timeout plus a margin, and the
//   stuck reader's sequence freed;
// - a client whose headers arrive byte by byte, each pause under the
//   timeout, is cut although it never went silent: it must get its 200;
// - a stream that waits in the queue (or in prefill) longer than the
//   timeout is cut by the server after its first event, as if its client
//   had been silent: it must arrive whole.
import net from "node:net";
import { agents, body, check, failures, request, rng, settled, sleep, url } from "./live_lib.mjs";

const T = parseFloat(process.env.CONN_TIMEOUT || "2");
const { hostname: host, port } = new URL(url);
const rand = rng(11);

// A raw connection: send(bytes), pause()/resume() reading, and promises for
// everything received and for the close.
function conn(guardS = T + 10) {
  const s = net.connect(+port, host);
  const c = { s, data: "", closedAt: 0, guarded: false };
  c.opened = new Promise((r) => s.once("connect", r));
  c.closed = new Promise((r) => s.once("close", () => { c.closedAt = Date.now(); r(); }));
  s.on("data", (d) => { c.data += d.toString("latin1"); });
  s.on("error", () => {});
  // A server that never closes must fail the checks below, not hang them.
  const guard = setTimeout(() => { c.guarded = true; s.destroy(); }, guardS * 1000);
  s.once("close", () => clearTimeout(guard));
  return c;
}
function httpReq(path, obj, agent) {
  const b = JSON.stringify(obj);
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `X-Agent-Id: ${agent}\r\nContent-Length: ${Buffer.byteLength(b)}\r\nConnection: close\r\n\r\n` + b;
}
const status = (raw) => { const m = /^HTTP\/1\.1 (\d{3})/.exec(raw); return m ? +m[1] : 0; };

const normalPrompt = "A normal agent asks: " + "what comes next in the story ".repeat(30);
const t0a = Date.now();
const alone = await request("chat", "normal-alone", normalPrompt, 300, true);
const aloneMs = Date.now() - t0a;
const slowAlone = await request("chat", "slow-alone", "slow reader story", 120, true);

// 1. Headers byte by byte, 5 ms apart, with four pauses of 0.7 T among them
// (the whole request takes about 3 T, no silence reaches T).
const byByte = (async () => {
  const c = conn(); await c.opened;
  const req = httpReq("/v1/chat/completions", body("chat", "byte by byte", 8, false), "bytes-1");
  const hdrEnd = req.indexOf("\r\n\r\n") + 4;
  const long = new Set([0, 1, 2, 3].map(() => Math.floor(rand() * hdrEnd)));
  for (let i = 0; i < req.length; i++) {
    c.s.write(req[i]);
    if (i < hdrEnd) await sleep(long.has(i) ? T * 700 : 5);
  }
  await c.closed;
  return c;
})();
// 2. A body that stops half way, for longer than the timeout.
const stalledBody = (async () => {
  const c = conn(); await c.opened;
  const req = httpReq("/v1/chat/completions", body("chat", "a body that never ends", 8, false), "body-1");
  c.s.write(req.slice(0, req.length - 20));
  const t = Date.now();
  await c.closed;
  return { c, ms: c.closedAt - t };
})();
// 3. Connects, never sends.
const silent = (async () => {
  const c = conn(); await c.opened;
  const t = Date.now();
  await c.closed;
  return { c, ms: c.closedAt - t };
})();
// 4. A stream whose reader stops reading: big chunks (top_logprobs) so the
// socket buffers fill and the server's writes stall.
const stuck = (async () => {
  const c = conn(40); await c.opened;
  const b = { ...body("chat", "stuck reader", 3000, true), logprobs: true, top_logprobs: 20 };
  c.s.write(httpReq("/v1/chat/completions", b, "stuck-1"));
  await sleep(200);
  c.s.pause();
  // Cut once the socket buffers are full and T has passed: T + 4 s here,
  // longer on a slow (sanitized) build, before 3000 tokens are generated.
  const t = Date.now();
  await sleep((T + 4) * 1000);
  let running = true;
  while (running && Date.now() - t < 30000) {
    const a = (await agents()).find((x) => x.id === "stuck-1");
    running = a ? a.running : null;
    if (running) await sleep(100);
  }
  c.s.resume();
  await c.closed;
  return { c, running, ms: Date.now() - t };
})();
// 5. A stream read slowly: a pause under the timeout before every read.
const slowRead = (async () => {
  const c = conn(); await c.opened;
  c.s.write(httpReq("/v1/chat/completions", body("chat", "slow reader story", 120, true), "slow-1"));
  c.s.pause();
  const tick = setInterval(() => { c.s.resume(); setTimeout(() => c.s.pause(), 5); }, T * 1000 / 4);
  await c.closed;
  clearInterval(tick);
  return c;
})();

await sleep(300);
const t0n = Date.now();
const normal = await request("chat", "normal-1", normalPrompt, 300, true);
const normalMs = Date.now() - t0n;
check(normal.text === alone.text && normal.text.length > 0 && !normal.error,
  `a normal stream beside slow clients gives its text alone ${normal.error || ""}`);
check(normalMs < aloneMs + 3000, `...and is not held up by them (${normalMs} ms, alone ${aloneMs} ms)`);

const bb = await byByte;
check(status(bb.data) === 200 && /"chat\.completion"/.test(bb.data), `headers sent byte by byte get their answer (${status(bb.data)})`);
const sb = await stalledBody;
check(status(sb.c.data) !== 200, `a stalled body gets no answer to a request it never finished (${status(sb.c.data)})`);
check(sb.ms < (T + 3) * 1000, `...and its connection is closed after the timeout (${sb.ms} ms)`);
const si = await silent;
check(si.c.data === "" && si.ms < (T + 3) * 1000, `a connection that never sends is closed after the timeout (${si.ms} ms)`);
const st = await stuck;
check(status(st.c.data) === 200 && !st.c.data.includes("data: [DONE]") && !st.c.guarded,
  "a reader that stops reading is cut by the server before its stream ends");
check(st.running === false, `...and its sequence is freed (running: ${st.running} after ${st.ms} ms)`);
const sr = await slowRead;
const srText = sr.data.split("\r\n\r\n").slice(1).join("\r\n\r\n");
check(srText.includes("data: [DONE]"), "a slow but steady reader gets its whole stream");
// The slow stream's text: the chunked body's SSE frames, deltas joined.
let txt = "";
for (const m of srText.matchAll(/data: (\{.*?\})\n/g)) {
  const j = JSON.parse(m[1]);
  if (j.choices && j.choices.length) txt += j.choices[0].delta.content || "";
}
check(txt === slowAlone.text, "...and it is the text it gets alone");

// 6. Streams queued behind three long ones (3000 tokens: several seconds)
// wait longer than the timeout.
const long = [0, 1, 2].map((i) => request("chat", `long-${i}`, `long ${i}`, 3000, true));
await sleep(100);
const queued = await Promise.all([
  request("chat", "queued-1", normalPrompt, 300, true),
  request("messages", "queued-2", normalPrompt, 300, true),
]);
const longs = await Promise.all(long);
check(longs.every((r) => r.status === 200 && r.text.length > 0), "long streams complete");
check(queued[0].text === alone.text && !queued[0].error, `a stream queued longer than the timeout arrives whole (chat) ${queued[0].error || ""}`);
const msgAlone = await request("messages", "queued-alone", normalPrompt, 300, true);
check(queued[1].text === msgAlone.text && queued[1].text.length > 0, "...and in the Anthropic API");
check((await settled(2000)) >= 0, "nothing left running");
check((await fetch(url + "/health/ready")).status === 200, "server alive and ready");
process.exit(failures ? 1 : 0);
