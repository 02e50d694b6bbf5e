// anthropic.mjs — the real `@anthropic-ai/sdk` client against a live agentmem
// server (URL in $AGENTMEM_URL). Each check names the bug it is for.
import Anthropic from "../npm/node_modules/@anthropic-ai/sdk/index.mjs";

const url = process.env.AGENTMEM_URL;
const client = new Anthropic({ baseURL: url, apiKey: "unused", maxRetries: 0 });
let failures = 0;
function check(cond, what) {
  if (!cond) { failures++; console.error("FAIL " + what); } else console.error("ok   " + what);
}
const model = (await (await fetch(url + "/v1/models")).json()).data[0].id;
const base = { model, max_tokens: 24, temperature: 0, system: "You are terse.",
               messages: [{ role: "user", content: "Tell me a story." }] };

// Bug: message shape (content blocks, stop_reason, usage) not what the SDK parses.
const m = await client.messages.create({ ...base, ignore_eos: true });
const text = m.content.filter((b) => b.type === "text").map((b) => b.text).join("");
check(m.type === "message" && m.role === "assistant" && text.length > 0, "non-streamed message");
// Anthropic's input total is input_tokens + cache_creation + cache_read.
const inputTotal = m.usage.input_tokens + m.usage.cache_read_input_tokens + m.usage.cache_creation_input_tokens;
check(m.stop_reason === "max_tokens" && m.usage.output_tokens === 24 && inputTotal > 0,
      "stop_reason max_tokens and usage");

// Bug: named SSE events out of order or text lost in the stream.
const events = [];
const stream = client.messages.stream({ ...base, ignore_eos: true });
stream.on("streamEvent", (e) => events.push(e.type));
const fin = await stream.finalMessage();
const streamed = fin.content.filter((b) => b.type === "text").map((b) => b.text).join("");
check(streamed === text, "streamed text equals non-streamed text");
check(events[0] === "message_start" && events[events.length - 1] === "message_stop" &&
      events.includes("content_block_start") && events.includes("content_block_delta") &&
      events.includes("message_delta"), "event order message_start ... message_stop: " + events.slice(0, 4).join(","));

// Bug: stop_sequences not enforced or not reported.
const chars = [...text];
let stop = null;
for (let at = Math.floor(chars.length / 3); at < chars.length - 2 && stop === null; at++) {
  const cand = chars.slice(at, at + 2).join("");
  if (cand.trim().length === 2 && !cand.includes("\uFFFD")) stop = cand;
}
if (stop) {
  const s = await client.messages.create({ ...base, ignore_eos: true, stop_sequences: [stop] });
  const st = s.content.filter((b) => b.type === "text").map((b) => b.text).join("");
  check(st === text.slice(0, text.indexOf(stop)), "stop_sequences cut exactly");
  check(s.stop_reason === "stop_sequence" && s.stop_sequence === stop, "stop_reason stop_sequence");
}

// Bug: the second turn recomputes the whole prompt.
const agent = new Anthropic({ baseURL: url, apiKey: "unused", maxRetries: 0,
                              defaultHeaders: { "x-agent-id": "sdk-anthropic-1" } });
const t1 = await agent.messages.create(base);
const reply = t1.content.filter((b) => b.type === "text").map((b) => b.text).join("");
const t2 = await agent.messages.create({ ...base, messages: [...base.messages,
  { role: "assistant", content: reply }, { role: "user", content: "And then?" }] });
check(t2.usage.cache_read_input_tokens > 0, `second turn reads the cache (${t2.usage.cache_read_input_tokens})`);

// Bug: count_tokens disagrees with what a request reports.
const ct = await client.messages.countTokens({ model, system: base.system, messages: base.messages });
check(ct.input_tokens === inputTotal, `count_tokens ${ct.input_tokens} = input total ${inputTotal}`);

// Bug: tools not accepted.
const tr = await client.messages.create({ ...base, tools: [{ name: "get_weather", description: "Weather",
  input_schema: { type: "object", properties: { city: { type: "string" } } } }] });
check(["end_turn", "max_tokens", "tool_use", "stop_sequence"].includes(tr.stop_reason), "a tools request completes");

try {
  await client.messages.create({ ...base, max_tokens: undefined });
  check(false, "missing max_tokens is an error");
} catch (e) {
  check(e.status === 400 && e.error && e.error.type === "error", `missing max_tokens -> 400 in Anthropic's shape (${e.status})`);
}
process.exit(failures ? 1 : 0);
