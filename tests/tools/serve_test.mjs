// serve_test.mjs - drives a running `kaiwu serve` with the official openai npm client (pinned in
// package.json) and checks the API end to end. Started by tests/e2e/serve.sh, which starts the
// server (tiny-qwen3 through --chat-format chatml, --parallel 2, --api-key) and passes its URL,
// key and log file. Random-weight model: the text is gibberish, but the same seed gives the same
// bytes. Prints one "FAIL ..." line per failed check and ends with "N passed, N failed".
import OpenAI from 'openai';
import { readFileSync } from 'node:fs';
import http from 'node:http';

const [base, key, logPath] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + '/v1', apiKey: key, maxRetries: 0, timeout: 60000 });
const model = 'tiny-qwen3-f16';
let passed = 0, failed = 0;
const check = (ok, what) => {
  if (ok) passed++;
  else { failed++; console.log('FAIL serve: ' + what); }
};
const msgs = (text) => [{ role: 'user', content: text }];

async function status(promise) {
  try { await promise; return 200; } catch (e) { return e.status ?? String(e); }
}

async function raw(method, path, body, headers = {}) {
  const r = await fetch(base + path, { method, body, headers: { Authorization: 'Bearer ' + key, ...headers } });
  return { status: r.status, text: await r.text() };
}

async function collect(stream) {
  let content = '', reasoning = '', finish = null, usage = null, chunks = 0, lp = 0;
  for await (const c of stream) {
    chunks++;
    if (c.usage) usage = c.usage;
    for (const ch of c.choices) {
      content += ch.delta?.content ?? ch.text ?? '';
      reasoning += ch.delta?.reasoning_content ?? '';
      if (ch.finish_reason) finish = ch.finish_reason;
      lp += ch.logprobs?.content?.length ?? 0;
    }
  }
  return { content, reasoning, finish, usage, chunks, lp };
}

// ---------------------------------------------------------------- chat and completion
const chat = await client.chat.completions.create({ model, messages: msgs('Hello'), max_tokens: 12, seed: 7 });
check(chat.object === 'chat.completion' && chat.choices.length === 1, 'a chat completion object with one choice');
check(typeof chat.choices[0].message.content === 'string' && chat.choices[0].message.role === 'assistant', 'an assistant message');
check(chat.usage.completion_tokens >= 1 && chat.usage.completion_tokens <= 12, `usage.completion_tokens within max_tokens (${chat.usage.completion_tokens})`);
check(chat.usage.prompt_tokens > 3 && chat.usage.total_tokens === chat.usage.prompt_tokens + chat.usage.completion_tokens, 'usage totals add up');
check(['stop', 'length'].includes(chat.choices[0].finish_reason), `finish_reason ${chat.choices[0].finish_reason}`);
const cmpl = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 10, seed: 3 });
check(cmpl.object === 'text_completion' && typeof cmpl.choices[0].text === 'string', 'a text completion');
check(cmpl.usage.completion_tokens === 10 && cmpl.choices[0].finish_reason === 'length', `max_tokens 10 ends with length (${cmpl.usage.completion_tokens}, ${cmpl.choices[0].finish_reason})`);
const parts = await client.chat.completions.create({ model, messages: [{ role: 'user', content: [{ type: 'text', text: 'Hel' }, { type: 'text', text: 'lo' }] }], max_completion_tokens: 12, seed: 7 });
check(parts.choices[0].message.content === chat.choices[0].message.content, 'content parts joined give the string prompt\'s answer');
const models = await client.models.list();
check(models.data.length === 1 && models.data[0].id === model, 'GET /v1/models lists the alias');

// ---------------------------------------------------------------- streaming, usage, seeds
const s1 = await collect(await client.chat.completions.create({ model, messages: msgs('Hello'), max_tokens: 12, seed: 7, stream: true, stream_options: { include_usage: true } }));
check(s1.content === chat.choices[0].message.content, `streamed content equals the non-streamed answer with the same seed ('${s1.content}' vs '${chat.choices[0].message.content}')`);
check(s1.usage && s1.usage.completion_tokens === chat.usage.completion_tokens && s1.usage.prompt_tokens === chat.usage.prompt_tokens, 'stream usage chunk matches');
check(s1.chunks >= 3, `several chunks streamed (${s1.chunks})`);
const t1 = await client.chat.completions.create({ model, messages: msgs('Tell me'), max_tokens: 16, temperature: 1.0, seed: 42 });
const t2 = await client.chat.completions.create({ model, messages: msgs('Tell me'), max_tokens: 16, temperature: 1.0, seed: 42 });
const t3 = await client.chat.completions.create({ model, messages: msgs('Tell me'), max_tokens: 16, temperature: 1.0, seed: 43 });
check(t1.choices[0].message.content === t2.choices[0].message.content, 'the same seed gives the same sampled answer');
check(t1.choices[0].message.content !== t3.choices[0].message.content, 'another seed gives another answer');

// ---------------------------------------------------------------- stop strings
const full = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 24, seed: 1, temperature: 0 });
const text = full.choices[0].text;
if (text.length >= 6) {
  const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 2);
  const cut = text.slice(0, text.indexOf(stop));
  const st = await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 24, seed: 1, temperature: 0, stop: [stop] });
  check(st.choices[0].text === cut && st.choices[0].finish_reason === 'stop', `stop ${JSON.stringify(stop)} cuts before its first occurrence (${JSON.stringify(st.choices[0].text)} vs ${JSON.stringify(cut)})`);
  const ss = await collect(await client.completions.create({ model, prompt: 'Once upon a time', max_tokens: 24, seed: 1, temperature: 0, stop: stop, stream: true }));
  check(ss.content === cut && ss.finish === 'stop', 'streamed: the stop string is never sent');
} else check(false, `the greedy completion is long enough to take a stop string from ('${text}')`);

// ---------------------------------------------------------------- n > 1, logprobs
const many = await client.chat.completions.create({ model, messages: msgs('Hi'), max_tokens: 8, n: 2, seed: 5, temperature: 1 });
check(many.choices.length === 2 && many.choices[0].index === 0 && many.choices[1].index === 1, 'n = 2 gives two choices');
check(many.usage.completion_tokens === many.choices.reduce((a, c) => a + 0, 0) + many.usage.completion_tokens && many.usage.completion_tokens >= 2, 'usage counts both choices');
const lp = await client.chat.completions.create({ model, messages: msgs('Hi'), max_tokens: 6, logprobs: true, top_logprobs: 3, temperature: 0 });
const entries = lp.choices[0].logprobs?.content ?? [];
check(entries.length === lp.usage.completion_tokens, `one logprob entry per token (${entries.length} for ${lp.usage.completion_tokens})`);
check(entries.every((e) => e.logprob <= 0 && e.top_logprobs.length === 3 && Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-4 && Array.isArray(e.bytes)), 'greedy: each token is its top logprob, three alternatives, with bytes');
const lps = await collect(await client.chat.completions.create({ model, messages: msgs('Hi'), max_tokens: 6, logprobs: true, top_logprobs: 2, temperature: 0, stream: true }));
check(lps.lp === entries.length, `streamed logprobs: one entry per token (${lps.lp})`);

// ---------------------------------------------------------------- Chinese, UTF-8 clean streaming
const zhq = msgs('人工智能大模型是什么？请用中文回答。');
const zh = await client.chat.completions.create({ model, messages: zhq, max_tokens: 40, seed: 9, temperature: 0 });
const zs = await collect(await client.chat.completions.create({ model, messages: zhq, max_tokens: 40, seed: 9, temperature: 0, stream: true }));
const fffd = (s) => (s.match(/\uFFFD/g) ?? []).length;
check(zs.content === zh.choices[0].message.content, 'a Chinese prompt: the streamed text equals the whole answer');
check(fffd(zs.content) === fffd(zh.choices[0].message.content), `streaming adds no U+FFFD (${fffd(zs.content)} in the stream, ${fffd(zh.choices[0].message.content)} in the answer, from the random model's invalid bytes)`);
// Honest: with this seed the random model's answer has two-byte characters (e.g. U+00E9) whose
// bytes come in separate tokens - the tokens' own bytes (logprobs) show it; a streamer decoding
// token by token would emit U+FFFD there. The stream must be the bytes decoded as a whole.
const zq = { model, messages: zhq, max_tokens: 40, seed: 0, temperature: 1 };
const zb = await client.chat.completions.create({ ...zq, logprobs: true });
const toks = (zb.choices[0].logprobs?.content ?? []).map((e) => Buffer.from(e.bytes));
const strict = new TextDecoder('utf-8', { fatal: true });
const alone = (b) => { try { strict.decode(b); return true; } catch { return false; } };
const whole = new TextDecoder().decode(Buffer.concat(toks));
const naive = toks.map((b) => new TextDecoder().decode(b)).join('');
check(toks.filter((b) => !alone(b)).length >= 2 && fffd(naive) > fffd(whole), `the answer has multi-byte characters split across tokens (token-by-token decoding gives ${fffd(naive)} U+FFFD, the whole ${fffd(whole)}: ${JSON.stringify(whole.slice(0, 24))})`);
const zs2 = await collect(await client.chat.completions.create({ ...zq, stream: true }));
check(zs2.content === whole && zb.choices[0].message.content === whole, `streamed, the split characters arrive whole: the stream is the bytes decoded as a whole (${JSON.stringify(zs2.content.slice(0, 24))} vs ${JSON.stringify(whole.slice(0, 24))})`);
check(zs2.chunks >= 10, `in many deltas (${zs2.chunks})`);

// ---------------------------------------------------------------- errors
const st400 = await raw('POST', '/v1/chat/completions', '{"messages": [', { 'Content-Type': 'application/json' });
check(st400.status === 400 && JSON.parse(st400.text).error.message.includes('JSON'), `invalid JSON is a 400 error object (${st400.status})`);
check(await status(client.chat.completions.create({ model, messages: 'hello' })) === 400, 'messages of the wrong type: 400');
check(await status(client.chat.completions.create({ model, messages: msgs('x'), temperature: 'hot' })) === 400, 'a temperature of the wrong type: 400');
const long = 'word '.repeat(3000);
try {
  await client.chat.completions.create({ model, messages: msgs(long) });
  check(false, 'a prompt longer than the context fails');
} catch (e) {
  check(e.status === 400 && /\d+ tokens.*context of 2048 tokens/.test(e.message), `a prompt longer than the context: 400 naming both numbers (${e.message})`);
}
try {
  await client.chat.completions.create({ model, messages: msgs('x'), response_format: { type: 'json_object' } });
  check(false, 'response_format json_object is refused');
} catch (e) { check(e.status === 400 && /not supported yet/.test(e.message), `response_format: 400 that says so (${e.message})`); }

// ---------------------------------------------------------------- tools (chatml: the hermes form)
const tools = [
  { type: 'function', function: { name: 'get_weather', description: '天气', parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 6 }, unit: { enum: ['摄氏', '华氏'] }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city', 'unit'] } } },
  { type: 'function', function: { name: 'search', parameters: { type: 'object', properties: { q: { type: 'string', minLength: 1, maxLength: 8 } }, required: ['q'], additionalProperties: false } } },
];
// The arguments against the two schemas above, checked here by hand (not by kaiwu's validator).
const argsValid = (name, text) => {
  let a;
  try { a = JSON.parse(text); } catch { return false; }
  if (typeof a !== 'object' || a === null || Array.isArray(a)) return false;
  const len = (s) => [...s].length;
  if (name === 'get_weather')
    return Object.keys(a).every((k) => ['city', 'unit', 'days'].includes(k)) && typeof a.city === 'string' && len(a.city) <= 6 &&
      ['摄氏', '华氏'].includes(a.unit) && (a.days === undefined || (Number.isInteger(a.days) && a.days >= 1 && a.days <= 7));
  if (name === 'search') return Object.keys(a).length === 1 && typeof a.q === 'string' && len(a.q) >= 1 && len(a.q) <= 8;
  return false;
};
let forcedOk = 0;
const forcedN = 8;
for (let i = 0; i < forcedN; i++) {
  const r = await client.chat.completions.create({ model, messages: msgs('北京天气？'), tools, tool_choice: 'required', temperature: 1, seed: 100 + i, max_tokens: 300 });
  const ch = r.choices[0], calls = ch.message.tool_calls ?? [];
  if (ch.finish_reason === 'tool_calls' && calls.length === 1 && calls[0].type === 'function' && calls[0].id &&
      argsValid(calls[0].function.name, calls[0].function.arguments)) forcedOk++;
  else console.log(`forced call ${i}: ${JSON.stringify(ch)}`);
}
check(forcedOk === forcedN, `tool_choice required: ${forcedOk} of ${forcedN} replies are one valid call with finish_reason tool_calls`);
const named = await client.chat.completions.create({ model, messages: msgs('搜一下'), tools, tool_choice: { type: 'function', function: { name: 'search' } }, temperature: 1, seed: 5, max_tokens: 300 });
const nc = named.choices[0].message.tool_calls ?? [];
check(nc.length === 1 && nc[0].function.name === 'search' && argsValid('search', nc[0].function.arguments), `a named tool_choice calls that tool (${JSON.stringify(named.choices[0].message)})`);
const st = await client.chat.completions.create({ model, messages: msgs('北京天气？'), tools, tool_choice: 'required', temperature: 1, seed: 9, max_tokens: 300, stream: true });
let sCalls = [], sFinish = null, sContent = '';
for await (const c of st) for (const ch of c.choices) {
  if (ch.delta?.tool_calls) sCalls.push(...ch.delta.tool_calls);
  sContent += ch.delta?.content ?? '';
  if (ch.finish_reason) sFinish = ch.finish_reason;
}
check(sFinish === 'tool_calls' && sCalls.length === 1 && sCalls[0].index === 0 && argsValid(sCalls[0].function.name, sCalls[0].function.arguments) && !sContent.includes('<tool_call>'),
  `streaming a forced call: one tool_calls delta, the call text not in content (${JSON.stringify(sCalls)}, ${sFinish})`);
const auto = await client.chat.completions.create({ model, messages: msgs('你好'), tools, max_tokens: 8, seed: 1 });
check(['stop', 'length', 'tool_calls'].includes(auto.choices[0].finish_reason), `tools with tool_choice auto are accepted (${auto.choices[0].finish_reason})`);
// a conversation holding an assistant's call (arguments as JSON text) and the tool's answer
const followUp = await client.chat.completions.create({ model, tools, max_tokens: 8, seed: 2, messages: [
  { role: 'user', content: '北京天气？' },
  { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "北京", "unit": "摄氏"}' } }] },
  { role: 'tool', tool_call_id: 'call_1', content: '{"temperature": 26}' },
] });
check(followUp.choices.length === 1, 'a conversation with a call and a tool result is answered');
for (const [what, body, param] of [
  ['an unknown tool in tool_choice', { tools, tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice'],
  ['tool_choice required without tools', { tool_choice: 'required' }, 'tool_choice'],
  ['a bad tool_choice string', { tools, tool_choice: 'always' }, 'tool_choice'],
  ['a tool that is not a function', { tools: [{ type: 'retrieval' }] }, 'tools'],
  ['an unsupported schema keyword in a forced call', { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'string', patternProperties: {} } } } } }], tool_choice: 'required' }, 'tools'],
  ['the deprecated functions', { functions: [{ name: 'f' }] }, 'functions'],
]) {
  const r = await raw('POST', '/v1/chat/completions', JSON.stringify({ model, messages: msgs('x'), ...body }), { 'Content-Type': 'application/json' });
  let e = {};
  try { e = JSON.parse(r.text).error ?? {}; } catch {}
  check(r.status === 400 && e.param === param && e.message, `${what}: 400 naming '${param}' (${r.status} ${r.text})`);
}
const ct = await raw('POST', '/v1/completions', JSON.stringify({ model, prompt: 'x', tools }), { 'Content-Type': 'application/json' });
check(ct.status === 400 && /chat\/completions/.test(ct.text), `tools on /v1/completions: 400 (${ct.text})`);
const noKey = new OpenAI({ baseURL: base + '/v1', apiKey: 'wrong', maxRetries: 0 });
check(await status(noKey.models.list()) === 401, 'a wrong API key: 401');
check((await fetch(base + '/v1/models')).status === 401, 'no API key: 401');
check(await status(client.chat.completions.create({ model: 'gpt-4o', messages: msgs('x') })) === 404, 'an unknown model: 404');
check((await raw('GET', '/v1/nothing')).status === 404, 'an unknown path: 404');
const big = JSON.stringify({ model, prompt: 'x'.repeat(5 << 20) });
check((await raw('POST', '/v1/completions', big, { 'Content-Type': 'application/json' })).status === 413, 'a body over --max-body: 413');
const health = await (await fetch(base + '/health')).json();
check(health.status === 'ok' && health.slots_total === 2, 'GET /health says ok, without a key');

// ---------------------------------------------------------------- disconnect frees the slot
const ac = new AbortController();
const longStream = await client.chat.completions.create({ model, messages: msgs('go on'), max_tokens: 1900, stream: true }, { signal: ac.signal });
let got = 0;
try {
  for await (const c of longStream) { if (++got === 3) { ac.abort(); break; } }
} catch (e) { /* the abort */ }
let freed = false;
const leftRe = /POST \/v1\/chat\/completions 200 in=\d+ out=(\d+) ttft=[\d.]+s total=[\d.]+s \(client left\)/;
for (let i = 0; i < 100 && !(freed && leftRe.test(readFileSync(logPath, 'utf8'))); i++) {
  await new Promise((r) => setTimeout(r, 50)); // the log line is written when the connection closes
  const m = await (await fetch(base + '/metrics')).text();
  freed = /kaiwu_slots_busy 0/.test(m);
}
check(got === 3 && freed, `a client that leaves mid-stream frees its slot (${got} chunks, slots busy 0: ${freed})`);
const left = leftRe.exec(readFileSync(logPath, 'utf8'));
check(left && Number(left[1]) < 1900, `the log line says the client left, before the end (${left ? left[1] : 'no line'} of 1900 tokens)`);
const after = await client.chat.completions.create({ model, messages: msgs('Hello'), max_tokens: 12, seed: 7 });
check(after.choices[0].message.content === chat.choices[0].message.content, 'the server answers as before afterwards');

// ---------------------------------------------------------------- queue full: 503
// --parallel 2, --max-queue 1: four long requests at once, at least one refused with 503
const four = await Promise.all([0, 1, 2, 3].map(() => status(client.completions.create({ model, prompt: 'a b c', max_tokens: 400, temperature: 1 }))));
check(four.filter((s) => s === 200).length >= 1 && four.filter((s) => s === 503).length >= 1 && four.every((s) => s === 200 || s === 503), `a full queue answers 503 (statuses ${four})`);

// ---------------------------------------------------------------- metrics and the log
const metrics = await (await fetch(base + '/metrics')).text();
for (const name of ['kaiwu_requests_total{status="200"}', 'kaiwu_requests_total{status="400"}', 'kaiwu_generated_tokens_total', 'kaiwu_queue_length', 'kaiwu_slots_busy', 'kaiwu_time_to_first_token_seconds_bucket', 'kaiwu_time_per_output_token_seconds_count'])
  check(metrics.includes(name), `/metrics has ${name}`);
check(/^\S+ POST \/v1\/completions 200 in=\d+ out=10 ttft=[\d.]+s total=[\d.]+s$/m.test(readFileSync(logPath, 'utf8')), 'one log line per request with tokens and times');

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
