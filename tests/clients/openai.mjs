// openai.mjs — the real `openai` npm client against a live agentmem server
// (URL in $AGENTMEM_URL). Each check names the bug it is for. Exits 1 on
// any failure.
import OpenAI from "../npm/node_modules/openai/index.mjs";

const url = process.env.AGENTMEM_URL;
const client = new OpenAI({ baseURL: url + "/v1", apiKey: "unused", maxRetries: 0 });
let failures = 0;
function check(cond, what) {
  if (!cond) { failures++; console.error("FAIL " + what); } else console.error("ok   " + what);
}
const models = await client.models.list();
const model = models.data[0].id;
check(models.data.length === 1 && typeof model === "string", "models.list names the served model");

const msgs = [{ role: "system", content: "You are terse." }, { role: "user", content: "Tell me a story." }];
const base = { model, messages: msgs, max_tokens: 24, temperature: 0 };

// Bug: non-streamed response shape (choices, usage, finish_reason) not what the SDK parses.
const full = await client.chat.completions.create({ ...base, ignore_eos: true });
const text = full.choices[0].message.content;
check(typeof text === "string" && text.length > 0, "non-streamed content");
check(full.choices[0].finish_reason === "length", "finish_reason length at max_tokens");
check(full.usage.completion_tokens === 24 && full.usage.prompt_tokens > 0, "usage counts");

// Bug: streamed text differs from non-streamed (lost or repeated chunks, broken UTF-8 joins).
const stream = await client.chat.completions.create({ ...base, ignore_eos: true, stream: true,
  stream_options: { include_usage: true } });
let streamed = "", usage = null, finish = null;
for await (const chunk of stream) {
  if (chunk.choices.length) {
    streamed += chunk.choices[0].delta.content || "";
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  if (chunk.usage) usage = chunk.usage;
}
check(streamed === text, "streamed text equals non-streamed text");
check(finish === "length" && usage && usage.completion_tokens === 24, "stream finish_reason and include_usage");

// Bug: stop strings not enforced, or text after the stop leaks (also across tokens, also in streams).
const chars = [...text];
let stop = null, cut = -1;
for (let at = Math.floor(chars.length / 3); at < chars.length - 2 && stop === null; at++) {
  const cand = chars.slice(at, at + 2).join("");
  if (cand.trim().length === 2 && !cand.includes("\uFFFD")) { stop = cand; cut = text.indexOf(cand); }
}
if (stop !== null) {
  const s1 = await client.chat.completions.create({ ...base, ignore_eos: true, stop: [stop] });
  check(s1.choices[0].message.content === text.slice(0, cut), `stop ${JSON.stringify(stop)} cuts exactly`);
  check(s1.choices[0].finish_reason === "stop", "finish_reason stop on a stop string");
  const s2 = await client.chat.completions.create({ ...base, ignore_eos: true, stop, stream: true });
  let st = "";
  for await (const c of s2) if (c.choices.length) st += c.choices[0].delta.content || "";
  check(st === text.slice(0, cut), "stop string cuts the stream exactly");
} else {
  check(false, "found a stop string candidate in: " + JSON.stringify(text));
}

// Bug: the agent's cache is not reused on the next turn (or not reported).
const agent = new OpenAI({ baseURL: url + "/v1", apiKey: "unused", maxRetries: 0,
                           defaultHeaders: { "X-Agent-Id": "sdk-openai-1" } });
const t1 = await agent.chat.completions.create({ ...base });
const turn2 = [...msgs, { role: "assistant", content: t1.choices[0].message.content },
               { role: "user", content: "And then?" }];
const t2 = await agent.chat.completions.create({ ...base, messages: turn2 });
const cached = t2.usage.prompt_tokens_details && t2.usage.prompt_tokens_details.cached_tokens;
check(cached > 0 && cached < t2.usage.prompt_tokens, `second turn reuses the cache (${cached} of ${t2.usage.prompt_tokens})`);
const agents = await (await fetch(url + "/v1/agents")).json();
const list = agents.data || agents.agents || agents;
check(Array.isArray(list) && list.some((a) => a.id === "sdk-openai-1"), "GET /v1/agents lists the agent");

// Bug: tools requests rejected or crashing the template.
const tools = [{ type: "function", function: { name: "get_weather", description: "Weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }];
const tr = await client.chat.completions.create({ ...base, tools, tool_choice: "auto" });
check(["stop", "length", "tool_calls"].includes(tr.choices[0].finish_reason), "a tools request completes");

// Bug: errors not in OpenAI's shape / status.
try {
  await client.chat.completions.create({ ...base, model: "no-such-model" });
  check(false, "unknown model is an error");
} catch (e) {
  check(e.status === 404, `unknown model -> 404 (got ${e.status})`);
}
try {
  await client.chat.completions.create({ ...base, n: 3 });
  check(false, "n=3 is an error");
} catch (e) {
  check(e.status === 400, `n=3 -> 400 (got ${e.status})`);
}
const comp = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
check(typeof comp.choices[0].text === "string" && comp.usage.completion_tokens > 0, "completions");
process.exit(failures ? 1 : 0);
