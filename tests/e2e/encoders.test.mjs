// Embedding and reranking models (bert encoders) served by `llmchain serve`, through the official
// openai client (embeddings), @langchain/openai's OpenAIEmbeddings and plain HTTP for /v1/rerank
// (llama-server's Jina/Cohere shape). Random-weight models from `llmchain gen-model` with bge's
// WordPiece vocabulary; runs once (under server_e2e, not server_e2e_model).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { OpenAIEmbeddings } from '@langchain/openai';
import { freePort, waitReady } from './serve_util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.LLMCHAIN_BIN || path.join(here, '..', '..', 'build', 'apps', 'llmchain');
const SHARED = process.env.LLMCHAIN_SHARED_DIR || path.join(here, '..', '..', '..', 'shared');
const VOCAB = path.join(SHARED, 'testdata', 'tokenizer', 'ggml-vocab-bert-bge.gguf');
const SKIP = process.env.LLMCHAIN_E2E_MODEL ? 'runs under server_e2e' : !fs.existsSync(VOCAB) ? `${VOCAB} not found` : false;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'llmchain-e2e-enc-'));
const servers = [];
async function serve(model) {
  const port = await freePort();
  let logs = '';
  const p = spawn(BIN, ['serve', '-m', model, '--host', '127.0.0.1', '--port', String(port), '--threads', '2'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout.on('data', (d) => { logs += d; });
  p.stderr.on('data', (d) => { logs += d; });
  servers.push(p);
  const root = `http://127.0.0.1:${port}`;
  await waitReady(root, 60000, () => logs);
  return root;
}
function gen(name, pooling) {
  const f = path.join(work, `${name}.gguf`);
  execFileSync(BIN, ['gen-model', '--shape', 'tiny', '--arch', 'bert', '--pooling', pooling, '--type', 'f16',
    '--vocab', VOCAB, '-o', f, '--seed', '9'], { stdio: 'ignore' });
  return f;
}
const norm = (v) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
const post = async (root, route, body) => {
  const r = await fetch(root + route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
};

describe('encoders', { skip: SKIP }, () => {
  let embedModel, rankModel, embedRoot, rankRoot;
  before(async () => {
    embedModel = gen('bert-mean', 'mean');
    rankModel = gen('bert-rank', 'rank');
    embedRoot = await serve(embedModel);
    rankRoot = await serve(rankModel);
  });
  after(async () => {
    for (const p of servers) p.kill('SIGTERM');
    fs.rmSync(work, { recursive: true, force: true });
  });

  test('openai client: embeddings are the model pooling, normalised, as `llmchain embed` prints them', async () => {
    const client = new OpenAI({ baseURL: embedRoot + '/v1', apiKey: 'none', maxRetries: 0 });
    const texts = ['hello world', 'the quick brown fox', 'hello world'];
    const r = await client.embeddings.create({ model: 'bert-mean.gguf', input: texts });
    assert.equal(r.data.length, 3);
    assert.equal(r.data[0].embedding.length, 256);
    for (const d of r.data) assert.ok(Math.abs(norm(d.embedding) - 1) < 1e-5);
    assert.deepEqual(r.data[0].embedding, r.data[2].embedding);
    assert.notDeepEqual(r.data[0].embedding, r.data[1].embedding);
    const cli = JSON.parse(execFileSync(BIN, ['embed', '-m', embedModel, ...texts], { encoding: 'utf8' }));
    for (let i = 0; i < 3; ++i)
      for (let d = 0; d < 256; ++d) assert.ok(Math.abs(cli.data[i].embedding[d] - r.data[i].embedding[d]) < 1e-6);
    const b64 = await client.embeddings.create({ model: 'bert-mean.gguf', input: 'hello world', encoding_format: 'base64' });
    const raw = Buffer.from(b64.data[0].embedding, 'base64');  // asked for base64: the client returns the string
    const f32 = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
    assert.equal(f32.length, 256);
    for (let d = 0; d < 256; ++d) assert.ok(Math.abs(f32[d] - r.data[0].embedding[d]) < 1e-7);
  });

  test('langchain OpenAIEmbeddings', async () => {
    const emb = new OpenAIEmbeddings({ model: 'bert-mean.gguf', apiKey: 'none', configuration: { baseURL: embedRoot + '/v1' } });
    const [a, b] = await emb.embedDocuments(['hello world', 'a different text']);
    const q = await emb.embedQuery('hello world');
    assert.equal(a.length, 256);
    assert.ok(Math.abs(norm(b) - 1) < 1e-5);
    const cos = a.reduce((s, x, i) => s + x * q[i], 0);
    assert.ok(cos > 0.99999);
  });

  test('an embedding model does not generate: 400 through the openai client', async () => {
    const client = new OpenAI({ baseURL: embedRoot + '/v1', apiKey: 'none', maxRetries: 0 });
    await assert.rejects(client.chat.completions.create({ model: 'bert-mean.gguf', messages: [{ role: 'user', content: 'hi' }] }),
      (e) => e.status === 400 && /does not generate/.test(e.message));
  });

  test('POST /v1/rerank: every document scored, best first, top_n and return_documents', async () => {
    const docs = ['the quick brown fox', 'hello world', { text: 'hello there world' }, 'zzz'];
    const all = await post(rankRoot, '/v1/rerank', { model: 'bert-rank.gguf', query: 'hello world', documents: docs });
    assert.equal(all.status, 200);
    assert.equal(all.body.object, 'list');
    assert.equal(all.body.results.length, 4);
    assert.deepEqual(all.body.results.map((r) => r.index).sort(), [0, 1, 2, 3]);
    for (let i = 1; i < 4; ++i) assert.ok(all.body.results[i - 1].relevance_score >= all.body.results[i].relevance_score);
    assert.ok(all.body.usage.prompt_tokens > 0);
    const cli = JSON.parse(execFileSync(BIN, ['rerank', '-m', rankModel, '-q', 'hello world',
      'the quick brown fox', 'hello world', 'hello there world', 'zzz'], { encoding: 'utf8' }));
    assert.deepEqual(cli.results.map((r) => r.index), all.body.results.map((r) => r.index));
    const top = await post(rankRoot, '/rerank', { query: 'hello world', documents: docs, top_n: 2, return_documents: true });
    assert.equal(top.status, 200);
    assert.equal(top.body.results.length, 2);
    assert.equal(top.body.results[0].index, all.body.results[0].index);
    const d = docs[top.body.results[0].index];
    assert.equal(top.body.results[0].document.text, typeof d === 'string' ? d : d.text);
  });

  test('POST /v1/rerank: bad input is a 400 naming the field; a model without rank pooling is refused', async () => {
    for (const [body, param] of [
      [{ documents: ['a'] }, 'query'],
      [{ query: 'q' }, 'documents'],
      [{ query: 'q', documents: [] }, 'documents'],
      [{ query: 'q', documents: ['a', 7] }, 'documents[1]'],
      [{ query: 'q', documents: ['a'], top_n: 0 }, 'top_n'],
      [{ query: 'q', documents: ['a'], model: 'other' }, 'model'],
    ]) {
      const r = await post(rankRoot, '/v1/rerank', body);
      assert.ok(r.status === 400 || r.status === 404, `${JSON.stringify(body)} -> ${r.status}`);
      assert.equal(r.body.error.param, param, JSON.stringify(r.body));
    }
    const long = await post(rankRoot, '/v1/rerank', { query: 'q', documents: ['word '.repeat(600)] });
    assert.equal(long.status, 400);
    assert.equal(long.body.error.param, 'documents[0]');
    const r = await post(embedRoot, '/v1/rerank', { query: 'q', documents: ['a'] });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.param, 'model');
  });
});
