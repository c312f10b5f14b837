// End-to-end: the OpenAI Responses API (/v1/responses) of `llmchain serve`, driven by the
// official `openai` client (responses.create / stream / retrieve / delete) and LangChain's
// ChatOpenAI({ useResponsesApi: true }) — against the engine server itself and against
// `llmchain serve --role gateway` in front of it. Runs on the scripted fake engine by default
// (exact outputs: "echo: X" answers X); LLMCHAIN_E2E_MODEL=/path/model.gguf serves a real
// model (shapes and validity only).
//   LLMCHAIN_BIN   path to the llmchain binary (CTest sets it)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { ChatOpenAI } from '@langchain/openai';
import { HumanMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { z } from 'zod';
import { freePort, waitReady } from './serve_util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.LLMCHAIN_BIN || path.join(here, '..', '..', 'build', 'apps', 'llmchain');
const MODEL = process.env.LLMCHAIN_E2E_MODEL || '';
const FAKE = MODEL === '';
const ENGINE_KEY = 'e2e-engine-key';
const GATEWAY_KEY = 'e2e-gateway-key';

const procs = [];
let MODEL_ID;
const targets = {};  // name -> { baseURL, apiKey, client }

function startProcess(name, args) {
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { name, child, logs: '' };
  child.stdout.on('data', (d) => { p.logs += d; });
  child.stderr.on('data', (d) => { p.logs += d; });
  procs.push(p);
  return p;
}

before(async () => {
  const pe = await freePort();
  const engineArgs = ['serve', '--host', '127.0.0.1', '--port', String(pe), '--parallel', '4', '--api-key', ENGINE_KEY];
  if (FAKE) engineArgs.push('--fake-engine', '--fake-token-delay-ms', '2');
  else engineArgs.push('-m', MODEL, '--ctx-size', '2048');
  const engine = startProcess('engine', engineArgs);
  await waitReady(`http://127.0.0.1:${pe}`, 60000, () => engine.logs);
  const pg = await freePort();
  const gateway = startProcess('gateway', ['serve', '--role', 'gateway', '--host', '127.0.0.1', '--port', String(pg),
    '--upstream', `http://127.0.0.1:${pe}`, '--health-interval', '1', '--api-key', GATEWAY_KEY,
    '--upstream-api-key', ENGINE_KEY]);
  await waitReady(`http://127.0.0.1:${pg}`, 30000, () => gateway.logs);
  for (const [name, port, apiKey] of [['serve', pe, ENGINE_KEY], ['gateway', pg, GATEWAY_KEY]]) {
    const baseURL = `http://127.0.0.1:${port}/v1`;
    targets[name] = { baseURL, apiKey, client: new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 }) };
  }
  MODEL_ID = (await targets.serve.client.models.list()).data[0].id;
});

after(async () => {
  for (const p of procs.reverse()) {
    const exited = new Promise((resolve) => p.child.on('exit', (code) => resolve(code)));
    p.child.kill('SIGTERM');
    const code = await exited;
    assert.equal(code, 0, `${p.name} exits 0 on SIGTERM; log:\n${p.logs}`);
  }
});

const weatherTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather of a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' }, days: { type: 'integer' } },
    required: ['city', 'days'], additionalProperties: false,
  },
  strict: true,
};

async function collect(stream) {
  const events = [];
  for await (const event of stream) events.push(event);
  return events;
}

function checkSequence(events) {
  events.forEach((e, i) => assert.equal(e.sequence_number, i, `sequence_number of event ${i} (${e.type})`));
}

for (const target of ['serve', 'gateway']) {
  describe(`responses via ${target}`, () => {
    const c = () => targets[target].client;

    test('responses.create: a plain response', async () => {
      const r = await c().responses.create({
        model: MODEL_ID, input: FAKE ? 'echo: hello responses' : 'Once upon a time', max_output_tokens: 32,
        instructions: 'You tell short stories.', metadata: { suite: 'e2e' },
      });
      assert.match(r.id, /^resp_/);
      assert.equal(r.object, 'response');
      assert.equal(r.model, MODEL_ID);
      assert.ok(['completed', 'incomplete'].includes(r.status));
      assert.equal(r.output[0].type, 'message');
      assert.equal(r.output[0].role, 'assistant');
      assert.equal(r.output[0].content[0].type, 'output_text');
      assert.equal(typeof r.output_text, 'string');
      if (FAKE) {
        assert.equal(r.status, 'completed');
        assert.equal(r.output_text, 'hello responses');
      }
      if (r.status === 'incomplete') assert.equal(r.incomplete_details.reason, 'max_output_tokens');
      assert.equal(r.instructions, 'You tell short stories.');
      assert.deepEqual(r.metadata, { suite: 'e2e' });
      assert.equal(r.max_output_tokens, 32);
      assert.ok(r.usage.input_tokens > 0);
      assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
      assert.equal(r.usage.output_tokens_details.reasoning_tokens, 0);
    });

    test('responses.create stream: typed events in order, deltas add up to the final text', async () => {
      const stream = await c().responses.create({
        model: MODEL_ID, input: FAKE ? 'echo: streamed response words' : 'Once upon a time', max_output_tokens: 32,
        stream: true,
      });
      const events = await collect(stream);
      checkSequence(events);
      const types = events.map((e) => e.type);
      assert.deepEqual(types.slice(0, 4),
        ['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
      const last = events.at(-1);
      assert.ok(['response.completed', 'response.incomplete'].includes(last.type), types.join(','));
      assert.deepEqual(types.slice(-4, -1),
        ['response.output_text.done', 'response.content_part.done', 'response.output_item.done']);
      const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
      assert.equal(events.find((e) => e.type === 'response.output_text.done').text, text);
      assert.equal(last.response.output[0].content[0].text, text);
      assert.equal(last.response.id, events[0].response.id);
      assert.ok(last.response.usage.output_tokens > 0);
      if (FAKE) assert.equal(text, 'streamed response words');
      // The SDK's own accumulator agrees.
      const helper = c().responses.stream({
        model: MODEL_ID, input: FAKE ? 'echo: via the helper' : 'Once upon a time', max_output_tokens: 24,
      });
      let deltas = '';
      helper.on('response.output_text.delta', (e) => { deltas += e.delta; });
      const final = await helper.finalResponse();
      assert.equal(final.output_text, deltas);
      if (FAKE) assert.equal(final.output_text, 'via the helper');
    });

    test('function tool round trip: a forced call, then its output by previous_response_id', async () => {
      const r = await c().responses.create({
        model: MODEL_ID, input: 'What is the weather in Paris?', max_output_tokens: 40,
        tools: [weatherTool], tool_choice: { type: 'function', name: 'get_weather' },
      });
      assert.equal(r.status, 'completed');  // the forced call's arguments close within the budget
      const call = r.output.find((o) => o.type === 'function_call');
      assert.ok(call, JSON.stringify(r.output));
      assert.equal(call.name, 'get_weather');
      assert.match(call.call_id, /^call_/);
      assert.match(call.id, /^fc_/);
      const args = JSON.parse(call.arguments);
      assert.equal(typeof args.city, 'string');
      assert.ok(Number.isInteger(args.days));
      assert.deepEqual(r.tool_choice, { type: 'function', name: 'get_weather' });
      assert.equal(r.tools[0].name, 'get_weather');

      const follow = await c().responses.create({
        model: MODEL_ID, previous_response_id: r.id, tools: [weatherTool], max_output_tokens: 16,
        input: [{ type: 'function_call_output', call_id: call.call_id, output: FAKE ? 'echo: sunny' : 'sunny, 24 C' }],
      });
      assert.equal(follow.previous_response_id, r.id);
      assert.equal(follow.output[0].type, 'message');
      if (FAKE) assert.equal(follow.output_text, 'sunny');

      // Stateless: the same turn resent in full, nothing stored.
      const again = await c().responses.create({
        model: MODEL_ID, store: false, tools: [weatherTool], max_output_tokens: 16,
        input: [{ role: 'user', content: 'What is the weather in Paris?' }, ...r.output,
          { type: 'function_call_output', call_id: call.call_id, output: FAKE ? 'echo: rainy' : 'rainy, 12 C' }],
      });
      assert.equal(again.store, false);
      if (FAKE) assert.equal(again.output_text, 'rainy');
      await assert.rejects(c().responses.retrieve(again.id), (err) => err instanceof OpenAI.NotFoundError);
    });

    test('streamed forced call: arguments deltas join to the done arguments', async () => {
      const events = await collect(await c().responses.create({
        model: MODEL_ID, input: 'Weather in Oslo?', max_output_tokens: 40, stream: true,
        tools: [weatherTool], tool_choice: { type: 'function', name: 'get_weather' },
      }));
      checkSequence(events);
      const added = events.find((e) => e.type === 'response.output_item.added');
      assert.equal(added.item.type, 'function_call');
      assert.equal(added.item.arguments, '');
      const args = events.filter((e) => e.type === 'response.function_call_arguments.delta').map((e) => e.delta).join('');
      const done = events.find((e) => e.type === 'response.function_call_arguments.done');
      assert.equal(done.arguments, args);
      assert.equal(done.name, 'get_weather');
      assert.equal(events.at(-1).type, 'response.completed');
      assert.equal(typeof JSON.parse(args).city, 'string');
    });

    test('text.format json_schema: the output parses and matches', async () => {
      const schema = {
        type: 'object',
        properties: { name: { type: 'string' }, age: { type: 'integer' } },
        required: ['name', 'age'], additionalProperties: false,
      };
      const r = await c().responses.create({
        model: MODEL_ID, input: 'Describe a person as JSON.', max_output_tokens: FAKE ? 64 : 40,
        text: { format: { type: 'json_schema', name: 'person', schema, strict: true } },
      });
      assert.equal(r.status, 'completed');
      const obj = JSON.parse(r.output_text);
      assert.equal(typeof obj.name, 'string');
      assert.ok(Number.isInteger(obj.age));
      assert.equal(r.text.format.type, 'json_schema');
      assert.equal(r.text.format.name, 'person');
    });

    test('previous_response_id continues the conversation; retrieve and delete', async () => {
      const first = await c().responses.create({
        model: MODEL_ID, input: FAKE ? 'echo: the first turn' : 'Once upon a time', max_output_tokens: 24,
      });
      // No "echo:" of its own: the fake engine echoes the last one in its prompt, the first turn's.
      const second = await c().responses.create({
        model: MODEL_ID, input: 'And then?', previous_response_id: first.id, max_output_tokens: 24,
      });
      if (FAKE) assert.equal(second.output_text, 'the first turn');
      assert.ok(second.usage.input_tokens > first.usage.input_tokens, 'the history is part of the prompt');
      assert.equal(second.previous_response_id, first.id);

      const got = await c().responses.retrieve(first.id);
      assert.equal(got.id, first.id);
      assert.equal(got.output_text, first.output_text);
      assert.deepEqual(got.usage, first.usage);
      const deleted = await c().responses.delete(first.id);
      if (deleted && typeof deleted === 'object') assert.deepEqual(deleted, { id: first.id, object: 'response.deleted', deleted: true });
      await assert.rejects(c().responses.retrieve(first.id), (err) => err instanceof OpenAI.NotFoundError);
      await assert.rejects(c().responses.delete(first.id), (err) => err instanceof OpenAI.NotFoundError);
      // The second holds the whole conversation: it still continues.
      const third = await c().responses.create({
        model: MODEL_ID, input: 'Go on.', previous_response_id: second.id, max_output_tokens: 24,
      });
      if (FAKE) assert.equal(third.output_text, 'the first turn');
    });

    test('client mistakes are 400s naming the field', async () => {
      const bad = [
        [{ tools: [{ type: 'web_search' }] }, 'tools[0].type'],
        [{ tools: [{ type: 'file_search', vector_store_ids: ['vs_1'] }] }, 'tools[0].type'],
        [{ tools: [{ ...weatherTool, name: 'bad name' }] }, 'tools[0].name'],
        [{ input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://x/y.png' }] }] },
          'input[0].content[0].type'],
        [{ previous_response_id: 'resp_doesnotexist' }, 'previous_response_id'],
        [{ text: { format: { type: 'json_schema', schema: {} } } }, 'text.format.name'],
        [{ max_output_tokens: 0 }, 'max_output_tokens'],
        [{ background: true }, 'background'],
      ];
      for (const [extra, param] of bad) {
        await assert.rejects(
          c().responses.create({ model: MODEL_ID, input: 'hi', max_output_tokens: 8, ...extra }),
          (err) => err instanceof OpenAI.BadRequestError && err.param === param,
          `expected a 400 naming ${param} for ${JSON.stringify(extra)}`);
      }
    });

    describe('langchain ChatOpenAI({ useResponsesApi: true })', () => {
      const chat = (extra = {}) => new ChatOpenAI({
        model: MODEL_ID, apiKey: targets[target].apiKey, configuration: { baseURL: targets[target].baseURL },
        useResponsesApi: true, maxTokens: 40, maxRetries: 0, ...extra,
      });

      test('invoke', async () => {
        const msg = await chat().invoke(FAKE ? 'echo: from the responses api' : 'Once upon a time');
        assert.equal(typeof msg.text, 'string');
        if (FAKE) assert.equal(msg.text, 'from the responses api');
        assert.match(msg.response_metadata.id, /^resp_/);
        assert.ok(msg.usage_metadata.input_tokens > 0);
      });

      test('stream', async () => {
        let text = '';
        let chunks = 0;
        for await (const chunk of await chat().stream(FAKE ? 'echo: streamed through langchain' : 'Once upon a time')) {
          text += chunk.text;
          chunks++;
        }
        if (FAKE) {
          assert.ok(chunks > 1, `${chunks} chunks`);
          assert.equal(text, 'streamed through langchain');
        }
      });

      test('withStructuredOutput', async () => {
        const schema = z.object({ city: z.string(), days: z.number().int() });
        const out = await chat({ temperature: 0 }).withStructuredOutput(schema, { name: 'forecast' })
          .invoke('Forecast for Paris as JSON.');
        assert.equal(typeof out.city, 'string');
        assert.ok(Number.isInteger(out.days));
      });

      test('bindTools: a forced call, then the tool result back', async () => {
        const weather = tool(async ({ city }) => `sunny in ${city}`, {
          name: 'get_weather', description: 'Current weather of a city', schema: z.object({ city: z.string() }),
        });
        const model = chat({ temperature: 0 }).bindTools([weather], { tool_choice: 'get_weather' });
        const question = new HumanMessage('Weather in Lima?');
        const ai = await model.invoke([question]);
        assert.equal(ai.tool_calls.length, 1);
        assert.equal(ai.tool_calls[0].name, 'get_weather');
        assert.equal(typeof ai.tool_calls[0].args.city, 'string');
        const result = new ToolMessage({ tool_call_id: ai.tool_calls[0].id, content: FAKE ? 'echo: sunny in Lima' : 'sunny' });
        const answer = await chat().bindTools([weather]).invoke([question, ai, result]);
        assert.equal(typeof answer.text, 'string');
        if (FAKE) assert.equal(answer.text, 'sunny in Lima');
      });
    });
  });
}
