// End-to-end: the engine's gRPC service (`serve --grpc-port`) driven by an independent
// client, grpc-js with proto-loader reading proto/ as shipped: Generate streamed and
// cancelled mid-stream, deadlines, Tokenize/Detokenize/Info, auth, and grpc.health.v1.
// Runs against the scripted fake engine by default (exact outputs); with
// LLMCHAIN_E2E_MODEL=/path/model.gguf against the real engine (shapes and validity).
//   LLMCHAIN_BIN   path to the llmchain binary (CTest sets it)
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { freePort, waitReady } from './serve_util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.LLMCHAIN_BIN || path.join(here, '..', '..', 'build', 'apps', 'llmchain');
const PROTO_DIR = path.join(here, '..', '..', 'proto');
const MODEL = process.env.LLMCHAIN_E2E_MODEL || '';
const FAKE = MODEL === '';
const API_KEY = 'grpc-e2e-key';

const defs = protoLoader.loadSync(['llmchain/v1/engine.proto', 'grpc/health/v1/health.proto'], {
  includeDirs: [PROTO_DIR], keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true,
});
const proto = grpc.loadPackageDefinition(defs);

let server;
let logs = '';
let engine;  // llmchain.v1.Engine client
let healthClient;
let httpRoot;

const auth = () => {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${API_KEY}`);
  return md;
};
const unary = (client, method, req, md = auth(), options = {}) =>
  new Promise((resolve, reject) => client[method](req, md, options, (err, res) => (err ? reject(err) : resolve(res))));

// Runs a Generate call to its end: the messages and the final status (an error or OK).
function generate(req, { md = auth(), deadline, cancelAfter } = {}) {
  return new Promise((resolve) => {
    const call = engine.Generate(req, md, deadline ? { deadline } : {});
    const messages = [];
    let error = null;
    call.on('data', (m) => {
      messages.push(m);
      if (cancelAfter && messages.length === cancelAfter) call.cancel();
    });
    call.on('error', (e) => { error = e; });
    call.on('status', (s) => setImmediate(() => resolve({ messages, error, status: s })));
  });
}

before(async () => {
  const port = await freePort();
  const grpcPort = await freePort();
  const args = ['serve', '--host', '127.0.0.1', '--port', String(port), '--grpc-port', String(grpcPort),
    '--api-key', API_KEY, '--parallel', '4'];
  if (FAKE) args.push('--fake-engine', '--fake-token-delay-ms', '5');
  else args.push('-m', MODEL, '--ctx-size', '2048');
  server = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout.on('data', (d) => { logs += d; });
  server.stderr.on('data', (d) => { logs += d; });
  httpRoot = `http://127.0.0.1:${port}`;
  await waitReady(httpRoot, 60000, () => logs);
  const address = `127.0.0.1:${grpcPort}`;
  engine = new proto.llmchain.v1.Engine(address, grpc.credentials.createInsecure());
  healthClient = new proto.grpc.health.v1.Health(address, grpc.credentials.createInsecure());
  await new Promise((resolve, reject) =>
    engine.waitForReady(Date.now() + 10000, (e) => (e ? reject(new Error(`${e.message}\n${logs}`)) : resolve())));
});

after(async () => {
  engine?.close();
  healthClient?.close();
  if (!server) return;
  const exited = new Promise((resolve) => server.on('exit', (code) => resolve(code)));
  server.kill('SIGTERM');
  assert.equal(await exited, 0, 'graceful shutdown exits 0; log:\n' + logs);
});

async function runningSequences() {
  return (await unary(engine, 'Info', {})).running;
}

describe('grpc-js client on the engine service', () => {
  test('Generate streams token messages, then one with the result', async () => {
    const { messages, error } = await generate(
      { prompt: FAKE ? 'echo: streamed over grpc' : 'Once upon a time', max_tokens: 64, logprobs: 2 });
    assert.equal(error, null);
    assert.ok(messages.length >= 3);
    const last = messages.at(-1);
    assert.equal(last.done, true);
    assert.ok(['FINISH_REASON_STOP', 'FINISH_REASON_LENGTH'].includes(last.finish_reason));
    assert.equal(messages.slice(0, -1).map((m) => m.text).join(''), last.completion);
    if (FAKE) assert.match(last.completion, /streamed over grpc$/);
    for (const m of messages.slice(0, -1)) {
      assert.equal(m.chosen.token, m.token);
      assert.ok(m.chosen.logprob <= 0);
      assert.equal(m.top.length, 2);
    }
    assert.equal(last.usage.completion_tokens, messages.length - 1);
    assert.ok(last.usage.prompt_tokens > 0);
    for (const m of messages.slice(0, -1)) assert.equal(m.done, false);
  });

  test('Generate from chat messages, with sampling, stop and a JSON schema', { skip: !FAKE && 'exact outputs' }, async () => {
    const chat = { messages: [{ role: 'user', content: 'echo: one two three four' }] };
    let r = await generate({ chat, stop: [' three'], sampling: { temperature: 0 } });
    assert.equal(r.error, null);
    assert.equal(r.messages.at(-1).completion.trim(), 'one two');
    r = await generate({
      chat: { messages: [{ role: 'user', content: 'a person' }] },
      constraint: { json_schema: JSON.stringify({ type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }) },
    });
    assert.equal(r.error, null);
    assert.equal(typeof JSON.parse(r.messages.at(-1).completion).name, 'string');
  });

  test('cancelling a stream mid-way stops its sequence', async () => {
    const { messages, error } = await generate(
      { prompt: 'a long story', max_tokens: 2000, ignore_eos: true }, { cancelAfter: 3 });
    assert.equal(error?.code, grpc.status.CANCELLED);
    assert.ok(messages.length >= 3 && messages.length < 2000);
    const until = Date.now() + 3000;
    while ((await runningSequences()) !== 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await runningSequences(), 0, 'the cancelled sequence is still running');
  });

  test('a deadline ends the stream with DEADLINE_EXCEEDED and stops the sequence', async () => {
    const { messages, error } = await generate(
      { prompt: 'a long story', max_tokens: 2000, ignore_eos: true }, { deadline: Date.now() + 400 });
    assert.equal(error?.code, grpc.status.DEADLINE_EXCEEDED);
    assert.ok(messages.length > 0);
    const until = Date.now() + 3000;
    while ((await runningSequences()) !== 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await runningSequences(), 0);
  });

  test('bad requests are INVALID_ARGUMENT naming the field; no key is UNAUTHENTICATED', async () => {
    let r = await generate({ max_tokens: 4 });
    assert.equal(r.error?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(r.error.details, /input/);
    r = await generate({ prompt: 'x', constraint: { json_schema: '{"type": ' } });
    assert.equal(r.error?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(r.error.details, /constraint\.json_schema/);
    r = await generate({ prompt: 'echo: hi' }, { md: new grpc.Metadata() });
    assert.equal(r.error?.code, grpc.status.UNAUTHENTICATED);
    if (!FAKE) {  // the real engine compiles constraints: its message comes back intact
      r = await generate({ prompt: 'x', constraint: { grammar: 'root ::= undefined-rule' } });
      assert.equal(r.error?.code, grpc.status.INVALID_ARGUMENT);
      assert.match(r.error.details, /undefined-rule/);
    }
  });

  test('Tokenize, Detokenize and Info', async () => {
    const t = await unary(engine, 'Tokenize', { text: 'héllo', add_special: true, with_pieces: true });
    assert.ok(t.tokens.length >= 2);
    assert.equal(t.pieces.length, t.tokens.length);
    const d = await unary(engine, 'Detokenize', { tokens: t.tokens.slice(1) });
    assert.match(Buffer.from(d.text).toString('utf8'), /héllo/);
    if (FAKE) assert.equal(Buffer.concat(t.pieces.slice(1)).toString('utf8'), 'héllo');
    const info = await unary(engine, 'Info', {});
    if (FAKE) assert.equal(info.model, 'fake-model');
    assert.ok(info.n_ctx > 0 && info.n_vocab > 0);
    assert.equal(info.ready, true);
  });

  test('grpc.health.v1 answers SERVING without a key', async () => {
    for (const service of ['', 'llmchain.v1.Engine']) {
      const r = await unary(healthClient, 'Check', { service }, new grpc.Metadata());
      assert.equal(r.status, 'SERVING');
    }
    await assert.rejects(unary(healthClient, 'Check', { service: 'no.such.Service' }, new grpc.Metadata()),
      (e) => e.code === grpc.status.NOT_FOUND);
  });

  test('REST and gRPC serve the same engine at once', async () => {
    const rest = fetch(httpRoot + '/v1/completions', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` },
      body: JSON.stringify({ prompt: 'echo: via rest', max_tokens: 32 }),
    }).then((r) => r.json());
    const [viaRest, viaGrpc] = await Promise.all([rest, generate({ prompt: 'echo: via grpc', max_tokens: 32 })]);
    assert.equal(typeof viaRest.choices[0].text, 'string');
    assert.equal(viaGrpc.error, null);
    if (FAKE) {
      assert.match(viaRest.choices[0].text, /via rest$/);
      assert.match(viaGrpc.messages.at(-1).completion, /via grpc$/);
    }
  });
});
