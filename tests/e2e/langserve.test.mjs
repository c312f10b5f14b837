// End-to-end: LangServe's own client, RemoteRunnable (@langchain/core 0.3's runnables/remote,
// installed under the alias "langserve-core"), on every chain of examples/chains.yaml served
// by `llmchain serve` with the real engine and by a gateway in front of it: invoke, batch
// (config as a list, as the client sends it), stream (chunk types uniform), streamLog,
// streamEvents v2, with an API key.
// Runs where LLMCHAIN_E2E_MODEL is set (the server_e2e_model CTest entry); skipped otherwise.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RemoteRunnable } from 'langserve-core/runnables/remote';
import { freePort, waitReady } from './serve_util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.LLMCHAIN_BIN || path.join(here, '..', '..', 'build', 'apps', 'llmchain');
const MODEL = process.env.LLMCHAIN_E2E_MODEL || '';
const CHAINS = path.join(here, '..', '..', 'examples', 'chains.yaml');
const API_KEY = 'langserve-key';
const skip = MODEL === '' ? 'needs LLMCHAIN_E2E_MODEL (the server_e2e_model entry)' : false;

const GATEWAY_KEY = 'langserve-gateway-key';
const procs = [];
const targets = {};  // name -> { root, key, chains }
let memoryDir;

function startProcess(name, args) {
  const child = spawn(BIN, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LLMCHAIN_MEMORY_DIR: path.join(memoryDir, name) },
  });
  const p = { name, child, logs: '' };
  child.stdout.on('data', (d) => { p.logs += d; });
  child.stderr.on('data', (d) => { p.logs += d; });
  procs.push(p);
  return p;
}

const remote = (t, name, key = t.key) =>
  new RemoteRunnable({ url: `${t.root}/chains/${name}`, options: { timeout: 120000, headers: { Authorization: `Bearer ${key}` } } });

// An input for a chain: every variable it declares, with a short value.
function inputFor(chain) {
  const input = {};
  for (const v of chain.input_variables) input[v] = v === 'question' ? 'Where is my order?' : 'wool socks';
  return input;
}

// What a chain's output looks like: JSON chains give objects, text chains strings.
const kind = (v) => (Array.isArray(v) ? 'array' : v === null ? 'null' : typeof v);

// `llmchain serve` with the model and the example chains, and a gateway in front of it that
// runs the same chains with the engine as its model (the deployment's two roles).
before(async () => {
  if (skip) return;
  memoryDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmchain-langserve-'));
  const pe = await freePort();
  const engine = startProcess('serve', ['serve', '--host', '127.0.0.1', '--port', String(pe), '--parallel', '8',
    '--max-queue', '64', '--api-key', API_KEY, '-m', MODEL, '--ctx-size', '1024', '--config', CHAINS,
    '--log-format', 'json']);
  const serveRoot = `http://127.0.0.1:${pe}`;
  await waitReady(serveRoot, 60000, () => engine.logs);
  const pg = await freePort();
  const gateway = startProcess('gateway', ['serve', '--role', 'gateway', '--host', '127.0.0.1', '--port', String(pg),
    '--upstream', serveRoot, '--upstream-api-key', API_KEY, '--api-key', GATEWAY_KEY, '--config', CHAINS,
    '--health-interval', '1', '--log-format', 'json']);
  const gatewayRoot = `http://127.0.0.1:${pg}`;
  await waitReady(gatewayRoot, 30000, () => gateway.logs);
  for (const [name, root, key] of [['serve', serveRoot, API_KEY], ['gateway', gatewayRoot, GATEWAY_KEY]]) {
    const r = await fetch(root + '/chains', { headers: { Authorization: `Bearer ${key}` } });
    const chains = (await r.json()).data;
    assert.ok(chains.length >= 5, `${name}: the example chains are served`);
    targets[name] = { root, key, chains };
  }
});

after(async () => {
  for (const p of procs.reverse()) {
    const exited = new Promise((resolve) => p.child.on('exit', (code) => resolve(code)));
    p.child.kill('SIGTERM');
    assert.equal(await exited, 0, `${p.name}: graceful shutdown exits 0; log:\n${p.logs}`);
  }
  if (memoryDir) fs.rmSync(memoryDir, { recursive: true, force: true });
});

for (const target of ['serve', 'gateway']) {
describe(`RemoteRunnable against ${target}`, { skip }, () => {
  // The chains run concurrently (the engine batches them), each chain's calls in order.
  test('invoke, batch and stream on every example chain', async () => {
    const t = targets[target];
    await Promise.all(t.chains.map(async (chain) => {
      const r = remote(t, chain.name);
      const input = inputFor(chain);
      const out = await r.invoke(input, { configurable: { session_id: `${target}-1` } });
      assert.ok(out !== undefined && out !== null, `${chain.name}: invoke returned nothing`);

      // batch: the client sends config as a list (one per input).
      const outs = await r.batch([input, input], [{ configurable: { session_id: `${target}-2` } }, { configurable: { session_id: `${target}-3` } }]);
      assert.equal(outs.length, 2, `${chain.name}: batch`);
      for (const o of outs) assert.equal(kind(o), kind(out), `${chain.name}: batch output type`);

      // stream: every chunk has one type; for text chains they add up to a string, JSON
      // chains stream the value parsed so far (objects).
      const chunks = [];
      for await (const c of await r.stream(input)) chunks.push(c);
      assert.ok(chunks.length >= 1, `${chain.name}: stream produced nothing`);
      const kinds = new Set(chunks.map(kind));
      assert.equal(kinds.size, 1, `${chain.name}: chunk types mix: ${[...kinds]}`);
      if (kind(out) === 'string') assert.equal([...kinds][0], 'string', `${chain.name}: text chains stream text`);
      else assert.equal([...kinds][0], kind(out) === 'array' ? 'array' : 'object', `${chain.name}: chunk type`);
    }));
  });

  test('streamLog and streamEvents v2 on every example chain', async () => {
    const t = targets[target];
    await Promise.all(t.chains.map(async (chain) => {
      const r = remote(t, chain.name);
      const input = inputFor(chain);
      let patches = 0;
      let state;
      for await (const patch of r.streamLog(input)) {
        patches += 1;
        assert.ok(Array.isArray(patch.ops), `${chain.name}: a RunLogPatch has ops`);
        state = state === undefined ? patch : state.concat(patch);  // applies the JSON Patch ops
      }
      assert.ok(patches >= 2, `${chain.name}: streamLog patches`);
      assert.notEqual(state.state.final_output, null, `${chain.name}: the run log has the final output`);
      const logs = Object.values(state.state.logs);
      assert.ok(logs.some((l) => l.type === 'llm' || l.type === 'chat_model'), `${chain.name}: the model call is logged`);

      const events = [];
      for await (const ev of r.streamEvents(input, { version: 'v2' })) events.push(ev);
      const names = events.map((e) => e.event);
      assert.equal(names[0], 'on_chain_start', `${chain.name}: first event`);
      assert.equal(names.at(-1), 'on_chain_end', `${chain.name}: last event`);
      assert.ok(names.some((n) => n === 'on_chat_model_start' || n === 'on_llm_start'), `${chain.name}: model start`);
      assert.ok(names.some((n) => n === 'on_chat_model_end' || n === 'on_llm_end'), `${chain.name}: model end`);
      const rootId = events[0].run_id;
      for (const e of events) {
        assert.ok(e.run_id, `${chain.name}: every event has a run id`);
      }
      // Every step's run starts and ends, and nested steps name their parents.
      const starts = events.filter((e) => e.event.endsWith('_start')).map((e) => e.run_id);
      const ends = new Set(events.filter((e) => e.event.endsWith('_end')).map((e) => e.run_id));
      for (const id of starts) assert.ok(ends.has(id), `${chain.name}: run ${id} started and never ended`);
      assert.ok(starts.length >= 3, `${chain.name}: the chain's steps have runs of their own (${names})`);
      assert.ok(rootId, `${chain.name}: root run id`);
    }));
  });

  test('a wrong API key is refused', async () => {
    const t = targets[target];
    await assert.rejects(remote(t, t.chains[0].name, 'nope').invoke(inputFor(t.chains[0])), /401/);
  });

  test('schemas: typed input, config, output', async () => {
    const t = targets[target];
    const root = t.root;
    const h = { headers: { Authorization: `Bearer ${t.key}` } };
    for (const chain of t.chains) {
      const input = await (await fetch(`${root}/chains/${chain.name}/input_schema`, h)).json();
      for (const v of chain.input_variables) assert.equal(input.properties[v].type, 'string', `${chain.name}.${v}`);
      const config = await fetch(`${root}/chains/${chain.name}/config_schema`, h);
      assert.equal(config.status, 200);
      assert.ok((await config.json()).properties.configurable);
    }
  });
});
}
