// disconnect.mjs — streams that disconnect at random points (during
// prefill, after a few tokens, deep in the decode), in both APIs. Bug it is
// for: a client that goes away leaves its sequence running (or its agent
// marked running, or its request queued) until max_tokens, holding KV
// blocks and a parallel slot; the server must notice at the next token and
// free it, so within 1 s /metrics shows nothing running or queued and
// GET /v1/agents shows every agent idle. Then each agent answers again.
import { check, failures, request, settled, rng, url } from "./live_lib.mjs";

const rand = rng(parseInt(process.env.SEED || "7", 10));
const apis = ["chat", "completions", "messages"];
for (let round = 0; round < 3; round++) {
  const jobs = [];
  for (let i = 0; i < 6; i++) {
    const api = apis[(round + i) % 3];
    const prompt = `Round ${round} agent ${i}: ` + "keep talking about the sea ".repeat(20 + Math.floor(rand() * 100));
    const opts = rand() < 0.3 ? { abortAfterMs: Math.floor(rand() * 40) } : { abortAfterEvents: 1 + Math.floor(rand() * 60) };
    jobs.push(request(api, `dc-${round}-${i}`, prompt, 2000, true, opts));
  }
  const res = await Promise.all(jobs);
  check(res.every((r) => r.aborted && (r.status === 0 || r.status === 200)), `round ${round}: every stream was answered 200 and cut by its client: ${res.map((r) => r.status)}`);
  const ms = await settled(1000);
  check(ms >= 0, `round ${round}: nothing running, queued or marked running within 1 s of the disconnects (${ms} ms)`);
}
// Whole (non-stream) answers: the handler writes nothing until the end, so
// the server must look at the socket to see the client leave. Bug it is
// for: a non-stream request whose client went away runs to max_tokens.
{
  const jobs = apis.map((api, i) => request(api, `dcw-${i}`, "a whole answer nobody waits for " + i, 3900, false,
                                            { abortAfterMs: 300 + 100 * i }));
  const res = await Promise.all(jobs);
  check(res.every((r) => r.aborted || r.status === 0), `whole answers cut by their clients: ${res.map((r) => r.status)}`);
  const ms = await settled(1000);
  check(ms >= 0, `non-stream requests whose clients left end within 1 s (${ms} ms)`);
}
const again = await request("chat", "dc-0-0", "Round 0 agent 0: hello again", 4, false);
check(again.status === 200, "an agent whose stream was cut answers its next request");
check((await fetch(url + "/health/ready")).status === 200, "server ready");
process.exit(failures ? 1 : 0);
