// End-to-end: two gateway processes in front of one engine, sharing chain memory and the
// Responses store through one redis-server (Debian's, on a free loopback port): a session's
// turns served alternately by the two gateways keep the whole history, and a response stored
// through one gateway continues through the other. Runs where LLMCHAIN_E2E_MODEL is set and
// redis-server is installed; skipped otherwise.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { freePort, waitReady } from './serve_util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.LLMCHAIN_BIN || path.join(here, '..', '..', 'build', 'apps', 'llmchain');
const MODEL = process.env.LLMCHAIN_E2E_MODEL || '';
const CHAINS = path.join(here, '..', '..', 'examples', 'chains.yaml');
const REDIS = '/usr/bin/redis-server';
const skip = MODEL === '' ? 'needs LLMCHAIN_E2E_MODEL' : !fs.existsSync(REDIS) ? 'needs redis-server' : false;

const procs = [];
let dir;
let redisPort;
const gateways = [];

function start(name, bin, args, env = {}) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const p = { name, child, logs: '' };
  child.stdout.on('data', (d) => { p.logs += d; });
  child.stderr.on('data', (d) => { p.logs += d; });
  procs.push(p);
  return p;
}

const redisCli = (...args) => execFileSync('redis-cli', ['-p', String(redisPort), ...args]).toString().trim();

before(async () => {
  if (skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmchain-redis-e2e-'));
  redisPort = await freePort();
  start('redis', REDIS, ['--port', String(redisPort), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', 'no']);
  const pe = await freePort();
  const engine = start('engine', BIN, ['serve', '--host', '127.0.0.1', '--port', String(pe), '-m', MODEL,
    '--ctx-size', '4096', '--parallel', '4']);
  await waitReady(`http://127.0.0.1:${pe}`, 60000, () => engine.logs);
  for (let i = 0; i < 2; ++i) {
    const port = await freePort();
    const g = start(`gateway${i}`, BIN, ['serve', '--role', 'gateway', '--host', '127.0.0.1', '--port', String(port),
      '--upstream', `http://127.0.0.1:${pe}`, '--config', CHAINS, '--health-interval', '1'], {
      LLMCHAIN_MEMORY_STORE: 'redis', LLMCHAIN_REDIS_URL: `redis://127.0.0.1:${redisPort}/0`,
      LLMCHAIN_MEMORY_DIR: path.join(dir, `g${i}`),
    });
    await waitReady(`http://127.0.0.1:${port}`, 30000, () => g.logs);
    gateways.push(`http://127.0.0.1:${port}`);
  }
});

after(async () => {
  for (const p of procs.reverse()) {
    const exited = new Promise((resolve) => p.child.on('exit', (code) => resolve(code)));
    p.child.kill('SIGTERM');
    assert.equal(await exited, 0, `${p.name} exits 0 on SIGTERM; log:\n${p.logs}`);
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('two gateways, one Redis', { skip }, () => {
  test('a session alternating between gateways keeps its whole history', async () => {
    const session = `alt-${process.pid}`;
    for (let turn = 0; turn < 3; ++turn) {
      const r = await fetch(`${gateways[turn % 2]}/chains/customer_service/invoke`, {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ input: { question: `Q${turn}?` }, config: { configurable: { session_id: session } } }),
      });
      assert.equal(r.status, 200, await r.text());
    }
    // Each turn appended the user's question and the answer, whichever gateway served it.
    const keys = redisCli('--scan', '--pattern', `llmchain:customer_service:${session}`);
    assert.equal(keys, `llmchain:customer_service:${session}`);
    const history = redisCli('LRANGE', keys, '0', '-1').split('\n').map((l) => JSON.parse(l));
    assert.equal(history.length, 6);
    for (let turn = 0; turn < 3; ++turn) {
      assert.equal(history[2 * turn].role, 'user');
      assert.ok(history[2 * turn].content.includes(`Q${turn}?`), JSON.stringify(history[2 * turn]));
      assert.equal(history[2 * turn + 1].role, 'assistant');
    }
  });

  test('a response stored through one gateway continues through the other', async () => {
    const [a, b] = gateways.map((g) => new OpenAI({ baseURL: `${g}/v1`, apiKey: 'none', maxRetries: 0 }));
    const model = (await a.models.list()).data[0].id;
    const first = await a.responses.create({ model, input: 'Once upon a time', max_output_tokens: 8 });
    const again = await b.responses.retrieve(first.id);
    assert.equal(again.id, first.id);
    const next = await b.responses.create({ model, input: 'Then?', previous_response_id: first.id, max_output_tokens: 8 });
    assert.equal(next.previous_response_id, first.id);
    await a.responses.delete(next.id);
    await assert.rejects(b.responses.retrieve(next.id), /404/);
  });
});
