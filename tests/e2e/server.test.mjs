// End-to-end: `llmchain serve` driven by the official `openai` client and
// LangChain's ChatOpenAI / OpenAI. Runs against the scripted fake engine by
// default; set LLMCHAIN_E2E_MODEL=/path/model.gguf to serve a real model.
//   LLMCHAIN_BIN   path to the llmchain binary (CTest sets it)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { ChatOpenAI, OpenAI as LangChainOpenAI } from '@langchain/openai';
import { tool } from '@langchain/core/tools';
import { z } from 'zod';
import { freePort, waitReady } from './serve_util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.LLMCHAIN_BIN || path.join(here, '..', '..', 'build', 'apps', 'llmchain');
const MODEL = process.env.LLMCHAIN_E2E_MODEL || '';
const FAKE = MODEL === '';
const API_KEY = 'e2e-key';

let server;
let MODEL_ID;  // the served model's id, from GET /v1/models (other names are 404)
let baseURL;
let client;
let logs = '';

async function metric(name) {
  const text = await (await fetch(baseURL.replace(/\/v1$/, '') + '/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(name + ' '));
  return line ? Number(line.split(' ')[1]) : NaN;
}

before(async () => {
  const port = await freePort();
  const args = ['serve', '--host', '127.0.0.1', '--port', String(port), '--parallel', '4', '--api-key', API_KEY,
    '--log-format', 'json', '--alias', 'e2e-alias'];
  if (FAKE) args.push('--fake-engine', '--fake-token-delay-ms', '5');
  else args.push('-m', MODEL, '--ctx-size', '2048');
  server = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout.on('data', (d) => { logs += d; });
  server.stderr.on('data', (d) => { logs += d; });
  const root = `http://127.0.0.1:${port}`;
  baseURL = root + '/v1';
  await waitReady(root, 60000, () => logs);
  client = new OpenAI({ baseURL, apiKey: API_KEY, maxRetries: 0, timeout: 60000 });
  MODEL_ID = (await client.models.list()).data[0].id;
});

after(async () => {
  if (!server) return;
  const exited = new Promise((resolve) => server.on('exit', (code, sig) => resolve({ code, sig })));
  server.kill('SIGTERM');
  const { code } = await exited;
  assert.equal(code, 0, 'graceful shutdown exits 0; log:\n' + logs);
});

const userMsg = (content) => [{ role: 'user', content }];

describe('openai client', () => {
  test('chat completion (non-streaming)', async () => {
    const r = await client.chat.completions.create({
      model: MODEL_ID, messages: userMsg(FAKE ? 'echo: hello e2e' : 'Once upon a time'), max_tokens: 16,
    });
    assert.match(r.id, /^chatcmpl-/);
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.equal(typeof r.choices[0].message.content, 'string');
    if (FAKE) assert.equal(r.choices[0].message.content, 'hello e2e');
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
    assert.ok(r.usage.prompt_tokens > 0);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  });

  test('chat completion (streaming, include_usage)', async () => {
    const stream = await client.chat.completions.create({
      model: MODEL_ID, messages: userMsg(FAKE ? 'echo: streamed words' : 'Once upon a time'), max_tokens: 16,
      stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let role;
    let finish;
    let usage;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      if (chunk.usage) usage = chunk.usage;
      if (chunk.choices.length === 0) continue;
      role ??= chunk.choices[0].delta.role;
      text += chunk.choices[0].delta.content ?? '';
      finish = chunk.choices[0].finish_reason ?? finish;
    }
    assert.equal(role, 'assistant');
    if (FAKE) assert.equal(text, 'streamed words');
    assert.ok(['stop', 'length'].includes(finish));
    assert.ok(usage && usage.completion_tokens > 0);
  });

  test('completions (non-streaming and streaming)', async () => {
    const prompt = FAKE ? 'echo: plain completion' : 'Once upon a time';
    const r = await client.completions.create({ model: MODEL_ID, prompt, max_tokens: 32, temperature: 0 });
    assert.match(r.id, /^cmpl-/);
    assert.equal(r.object, 'text_completion');
    const stream = await client.completions.create({ model: MODEL_ID, prompt, max_tokens: 32, temperature: 0,
      stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assert.equal(text, r.choices[0].text, 'greedy streaming and non-streaming agree');
    if (FAKE) assert.equal(text, 'plain completion');
  });

  test('stop strings end the output before the stop', async () => {
    const prompt = FAKE ? 'Tell me a story' : 'Once upon a time';
    const base = await client.completions.create({ model: MODEL_ID, prompt, max_tokens: 40, temperature: 0 });
    const full = base.choices[0].text;
    assert.ok(full.length > 12, `need some output to cut: ${JSON.stringify(full)}`);
    const stop = full.slice(8, 11);
    const at = full.indexOf(stop);
    const r = await client.completions.create({ model: MODEL_ID, prompt, max_tokens: 40, temperature: 0, stop: [stop] });
    assert.equal(r.choices[0].text, full.slice(0, at));
    assert.equal(r.choices[0].finish_reason, 'stop');
  });

  test('same seed gives the same output', async () => {
    const req = { model: MODEL_ID, prompt: FAKE ? 'Tell me a story' : 'Once upon a time', max_tokens: 24,
      temperature: 1, seed: 1234 };
    const a = await client.completions.create(req);
    const b = await client.completions.create(req);
    assert.equal(a.choices[0].text, b.choices[0].text);
    if (FAKE) {
      const c = await client.completions.create({ ...req, seed: 99 });
      assert.notEqual(a.choices[0].text, c.choices[0].text);
    }
  });

  test('json_schema response_format', async () => {
    const schema = {
      type: 'object',
      properties: { name: { type: 'string' }, age: { type: 'integer' } },
      required: ['name', 'age'], additionalProperties: false,
    };
    const r = await client.chat.completions.create({
      model: MODEL_ID, messages: userMsg('Describe a person as JSON.'), max_tokens: FAKE ? 64 : 40,
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } },
    });
    const choice = r.choices[0];
    // The budget guarantee: at max_tokens 40 even a model that knows no JSON closes the document.
    if (!FAKE) assert.equal(choice.finish_reason, 'stop');
    const obj = JSON.parse(choice.message.content);
    assert.equal(typeof obj.name, 'string');
    assert.ok(Number.isInteger(obj.age));
  });

  test('n choices, plain and streamed', async () => {
    const r = await client.chat.completions.create({
      model: MODEL_ID, messages: userMsg(FAKE ? 'echo: twice' : 'Once upon a time'), max_tokens: 8, n: 2,
    });
    assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
    if (FAKE) assert.deepEqual(r.choices.map((c) => c.message.content), ['twice', 'twice']);
    const stream = await client.chat.completions.create({
      model: MODEL_ID, messages: userMsg(FAKE ? 'echo: twice' : 'Once upon a time'), max_tokens: 8, n: 2, stream: true,
    });
    const text = ['', ''];
    const finish = [null, null];
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        text[c.index] += c.delta.content || '';
        if (c.finish_reason) finish[c.index] = c.finish_reason;
      }
    }
    assert.ok(finish.every((f) => f === 'stop' || f === 'length'), JSON.stringify(finish));
    if (FAKE) assert.deepEqual(text, ['twice', 'twice']);
  });

  test('parallel requests', async () => {
    const n = 12;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => client.chat.completions.create({
      model: MODEL_ID, messages: userMsg(FAKE ? `echo: req ${i}` : 'Once upon a time'), max_tokens: 12,
    })));
    results.forEach((r, i) => {
      assert.equal(r.choices.length, 1);
      if (FAKE) assert.equal(r.choices[0].message.content, `req ${i}`);
    });
  });

  test('client abort cancels the stream and the server keeps serving', async () => {
    const before = await metric('llmchain_requests_cancelled_total');
    const controller = new AbortController();
    const stream = await client.chat.completions.create({
      model: MODEL_ID, messages: userMsg(FAKE ? 'echo: ' + 'x'.repeat(400) : 'Once upon a time'),
      // A real model must still be generating when the abort comes: give it far more tokens than 3 chunks.
      max_tokens: FAKE ? 200 : 1500,
      stream: true,
    }, { signal: controller.signal });
    let chunks = 0;
    try {
      // The SDK ends the iteration quietly (or throws an AbortError) once aborted.
      for await (const _ of stream) {
        if (++chunks === 3) controller.abort();
      }
    } catch (err) {
      assert.equal(err.name, 'AbortError');
    }
    assert.ok(chunks >= 3 && chunks < 50, `got ${chunks} chunks before the abort took effect`);
    let after = before;
    for (let i = 0; i < 50 && after <= before; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = await metric('llmchain_requests_cancelled_total');
    }
    assert.ok(after > before, `cancelled_total ${before} -> ${after}`);
    const ok = await client.chat.completions.create({ model: MODEL_ID, messages: userMsg('echo: still here'),
      max_tokens: 8 });
    assert.equal(ok.choices.length, 1);
  });

  test('errors come back in OpenAI shape', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: MODEL_ID, messages: [], max_tokens: 4 }),
      (err) => err instanceof OpenAI.BadRequestError && err.param === 'messages');
    const noKey = new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(noKey.models.list(), (err) => err instanceof OpenAI.AuthenticationError);
    const models = await client.models.list();
    assert.ok(models.data.length >= 1);
  });

  test('a model the server does not serve is 404 model_not_found; an --alias is served', async () => {
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: userMsg('hi'), max_tokens: 4 }),
      (err) => err instanceof OpenAI.NotFoundError && err.code === 'model_not_found' && err.param === 'model');
    await assert.rejects(client.completions.create({ model: 'gpt-4o-mini', prompt: 'hi', max_tokens: 4 }),
      (err) => err instanceof OpenAI.NotFoundError && err.code === 'model_not_found');
    const r = await client.chat.completions.create({ model: 'e2e-alias', messages: userMsg('echo: hi'),
      max_tokens: 4 });
    assert.equal(r.choices.length, 1);
    assert.equal((await client.models.retrieve('e2e-alias')).id, MODEL_ID);
  });
});

const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather of a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, days: { type: 'integer' } },
      required: ['city', 'days'], additionalProperties: false,
    },
  },
};
const timeTool = {
  type: 'function',
  function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'string' } },
    required: ['zone'] } },
};

describe('tool calls', () => {
  test('tool_choice naming a function returns a call with valid arguments', async () => {
    const r = await client.chat.completions.create({
      model: MODEL_ID, messages: userMsg('What is the weather in Paris?'), max_tokens: 40,
      tools: [weatherTool, timeTool], tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const choice = r.choices[0];
    assert.equal(choice.finish_reason, 'stop');  // the forced call's arguments close within the budget
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.match(call.id, /^call_/);
    assert.equal(call.function.name, 'get_weather');
    const args = JSON.parse(call.function.arguments);
    assert.equal(typeof args.city, 'string');
    assert.ok(Number.isInteger(args.days));
  });

  test('tool_choice required picks one of the tools', async () => {
    const r = await client.chat.completions.create({
      model: MODEL_ID, messages: userMsg('What time is it in Tokyo?'), max_tokens: 128,
      tools: [weatherTool, timeTool], tool_choice: 'required',
    });
    const choice = r.choices[0];
    if (!FAKE && choice.finish_reason === 'length') return;
    assert.equal(choice.finish_reason, 'tool_calls');
    const call = choice.message.tool_calls[0];
    assert.ok(['get_weather', 'get_time'].includes(call.function.name));
    assert.equal(typeof JSON.parse(call.function.arguments), 'object');
  });

  test('streamed forced call: arguments arrive in deltas and join to valid JSON', async () => {
    const stream = await client.chat.completions.create({
      model: MODEL_ID, messages: userMsg('Weather in Oslo?'), max_tokens: 128, stream: true,
      tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    let name = '', args = '', id = '', finish = null;
    for await (const chunk of stream) {
      const c = chunk.choices[0];
      if (!c) continue;
      for (const tc of c.delta.tool_calls || []) {
        assert.equal(tc.index, 0);
        if (tc.id) id = tc.id;
        if (tc.function?.name) name += tc.function.name;
        if (tc.function?.arguments) args += tc.function.arguments;
      }
      if (c.finish_reason) finish = c.finish_reason;
    }
    assert.match(id, /^call_/);
    assert.equal(name, 'get_weather');
    if (!FAKE && finish === 'length') return;
    assert.equal(finish, 'stop');
    assert.equal(typeof JSON.parse(args).city, 'string');
  });

  test('a tool result goes back to the model and the conversation continues', async () => {
    const r = await client.chat.completions.create({
      model: MODEL_ID, max_tokens: 16, tools: [weatherTool],
      messages: [
        { role: 'user', content: 'Weather in Rome?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function',
          function: { name: 'get_weather', arguments: '{"city":"Rome","days":1}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: FAKE ? 'echo: sunny' : 'sunny, 24 C' },
      ],
    });
    assert.equal(r.choices.length, 1);
    if (FAKE) assert.equal(r.choices[0].message.content, 'sunny');
  });

  test('malformed tools are rejected naming the field', async () => {
    const bad = [
      [{ tools: 'x' }, 'tools'],
      [{ tools: [] }, 'tools'],
      [{ tools: [{ type: 'function', function: { name: 'bad name' } }] }, 'tools[0].function.name'],
      [{ tools: [{ type: 'retrieval' }] }, 'tools[0].type'],
      [{ tools: [weatherTool, weatherTool] }, 'tools[1].function.name'],
      [{ tool_choice: 'auto' }, 'tool_choice'],
      [{ tools: [weatherTool], tool_choice: 'sometimes' }, 'tool_choice'],
      [{ tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'nope' } } },
        'tool_choice.function.name'],
      [{ tools: [{ type: 'function', function: { name: 'f', parameters: [] } }] }, 'tools[0].function.parameters'],
    ];
    for (const [extra, param] of bad) {
      await assert.rejects(
        client.chat.completions.create({ model: MODEL_ID, messages: userMsg('hi'), max_tokens: 4, ...extra }),
        (err) => err instanceof OpenAI.BadRequestError && err.param === param,
        `expected a 400 naming ${param} for ${JSON.stringify(extra)}`);
    }
  });
});

describe('langchain', () => {
  test('withStructuredOutput (function calling) returns a parsed object', async () => {
    const chat = new ChatOpenAI({ model: MODEL_ID, apiKey: API_KEY, configuration: { baseURL }, maxTokens: 128,
      maxRetries: 0, temperature: 0 });
    const schema = z.object({ city: z.string(), days: z.number().int() });
    const structured = chat.withStructuredOutput(schema, { name: 'forecast' });
    // The forced call is constrained and closes within maxTokens, even on a model that knows no JSON.
    const out = await structured.invoke('Forecast for Paris as JSON.');
    assert.equal(typeof out.city, 'string');
    assert.ok(Number.isInteger(out.days));
  });

  test('bindTools with tool_choice yields tool_calls on the message', async () => {
    const chat = new ChatOpenAI({ model: MODEL_ID, apiKey: API_KEY, configuration: { baseURL }, maxTokens: 128,
      maxRetries: 0, temperature: 0 });
    const weather = tool(async ({ city }) => `sunny in ${city}`, {
      name: 'get_weather', description: 'Current weather of a city', schema: z.object({ city: z.string() }),
    });
    const msg = await chat.bindTools([weather], { tool_choice: 'get_weather' }).invoke('Weather in Lima?');
    assert.equal(msg.tool_calls.length, 1);
    assert.equal(msg.tool_calls[0].name, 'get_weather');
    if (FAKE) assert.equal(typeof msg.tool_calls[0].args.city, 'string');
  });

  test('ChatOpenAI invoke and stream', async () => {
    const chat = new ChatOpenAI({ model: MODEL_ID, apiKey: API_KEY, configuration: { baseURL }, maxTokens: 16,
      maxRetries: 0 });
    const msg = await chat.invoke(FAKE ? 'echo: from langchain' : 'Once upon a time');
    if (FAKE) assert.equal(msg.content, 'from langchain');
    else assert.equal(typeof msg.content, 'string');
    let text = '';
    for await (const chunk of await chat.stream(FAKE ? 'echo: lc stream' : 'Once upon a time')) text += chunk.content;
    if (FAKE) assert.equal(text, 'lc stream');
  });

  test('OpenAI (completions) LLM invoke', async () => {
    const llm = new LangChainOpenAI({ model: MODEL_ID, apiKey: API_KEY, configuration: { baseURL }, maxTokens: 16,
      maxRetries: 0 });
    const out = await llm.invoke(FAKE ? 'echo: lc completion' : 'Once upon a time');
    if (FAKE) assert.equal(out, 'lc completion');
    else assert.equal(typeof out, 'string');
  });
});
