// Gateway chains test: two `llmchain serve` engines (the stories260K model) and one
// `llmchain serve --role gateway --chains FILE` as processes on loopback. The chains' local
// model is served by the engine pool. Checks:
//  - GET /chains on the gateway lists the chains; /chains needs the gateway's API key;
//  - invoke and stream through the gateway give exactly the text an engine gives for the
//    rendered prompt (greedy), and /gateway/upstreams counts the chain's model calls;
//  - a sequential chain, and a JSON-schema chain (constrained decoding on the engine);
//  - with one engine killed, chains still answer (from the other engine);
//  - SIGTERM stops the gateway with exit code 0.
// Environment: LLMCHAIN_BIN (llmchain), LLMCHAIN_MODEL (GGUF). Skips (77) without the model.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const BIN = process.env.LLMCHAIN_BIN;
const MODEL = process.env.LLMCHAIN_MODEL;
const TOTAL_LIMIT_MS = 180_000;
const GW_KEY = 'gateway-key';
const ENGINE_KEY = 'engine-key';

const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmchain-gateway-chains-'));
const children = new Set();
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(2)}s]`, ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function cleanup() {
  for (const c of children) {
    try { c.kill('SIGKILL'); } catch { /* gone */ }
  }
}
process.on('exit', cleanup);
const watchdog = setTimeout(() => fail(`the test ran past ${TOTAL_LIMIT_MS / 1000} s`), TOTAL_LIMIT_MS);
watchdog.unref();

function dumpLogs() {
  for (const f of fs.readdirSync(workDir).filter((x) => x.endsWith('.log'))) {
    const text = fs.readFileSync(path.join(workDir, f), 'utf8');
    console.error(`---- ${f} (last 30 lines) ----\n${text.split('\n').slice(-30).join('\n')}`);
  }
}

function fail(msg) {
  console.error(`FAIL: ${msg}`);
  dumpLogs();
  cleanup();
  process.exit(1);
}

function check(cond, msg) {
  if (!cond) fail(msg);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function startProcess(name, args) {
  const out = fs.openSync(path.join(workDir, `${name}.log`), 'a');
  const child = spawn(BIN, args, { stdio: ['ignore', out, out] });
  children.add(child);
  child.exitPromise = new Promise((resolve) => child.on('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
  return child;
}

// One HTTP request; resolves {status, body} (status -1 on a transport error).
function request(port, method, p, { body, key, timeoutMs = 60_000 } = {}) {
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers = {};
    if (data !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = Buffer.byteLength(data);
    }
    if (key) headers.Authorization = `Bearer ${key}`;
    const req = http.request({ host: '127.0.0.1', port, path: p, method, headers, timeout: timeoutMs, agent: false }, (res) => {
      let raw = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { raw += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: raw }));
      res.on('error', () => resolve({ status: -1, body: raw }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: -1, body: '' }));
    req.end(data);
  });
}

const json = (r, what) => {
  try {
    return JSON.parse(r.body);
  } catch {
    return fail(`${what}: not JSON (HTTP ${r.status}): ${r.body.slice(0, 300)}`);
  }
};

async function waitFor(what, pred, limitMs) {
  const end = Date.now() + limitMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await sleep(100);
  }
  fail(`timed out after ${limitMs / 1000} s waiting for ${what}`);
}

async function upstreamRequests(gw) {
  const u = json(await request(gw, 'GET', '/gateway/upstreams', { key: GW_KEY }), '/gateway/upstreams').upstreams;
  return Object.fromEntries(u.map((x) => [x.url.split(':').at(-1), x]));
}
const totalRequests = (ups) => Object.values(ups).reduce((n, u) => n + u.requests_total, 0);

// What an engine itself answers for a prompt (the chains' model settings: greedy, 24 tokens).
async function engineText(port, prompt) {
  const r = await request(port, 'POST', '/v1/completions', {
    key: ENGINE_KEY, body: { prompt, temperature: 0, max_tokens: 24 },
  });
  check(r.status === 200, `engine /v1/completions: HTTP ${r.status}: ${r.body}`);
  return json(r, 'engine completion').choices[0].text;
}

async function main() {
  if (!BIN || !fs.existsSync(BIN)) fail(`LLMCHAIN_BIN not set or missing (${BIN})`);
  if (!MODEL || !fs.existsSync(MODEL)) {
    console.log(`SKIP: model ${MODEL} not found`);
    process.exit(77);
  }
  const chainsFile = path.join(workDir, 'chains.yaml');
  fs.writeFileSync(chainsFile, `
models:
  local:
    path: /models/model.gguf      # local: in the gateway role, served by the engine pool
    params: {temperature: 0, max_tokens: 24}
chains:
  story:
    description: Continues a story
    model: local
    prompt: "Once upon a time, {name}"
    output_key: text
  two_steps:
    type: sequential
    input_variables: [name]
    output_variables: [first, second]
    steps:
      - {prompt: "Once upon a time, {name}", model: local, output_key: first}
      - {prompt: "The end. {first}", model: local, output_key: second}
  mood:
    model: local
    prompt: "Once upon a time, {name} felt"
    params: {max_tokens: 64}
    parser:
      type: json
      schema:
        type: object
        properties: {mood: {type: string, enum: [happy, sad, sleepy]}}
        required: [mood]
        additionalProperties: false
    output_key: result
`);

  const [pa, pb, pg] = [await freePort(), await freePort(), await freePort()];
  const engineArgs = (port) => ['serve', '-m', MODEL, '--host', '127.0.0.1', '--port', String(port), '--parallel', '2',
    '--threads', '1', '--ctx-size', '256', '--no-ui', '--api-key', ENGINE_KEY];
  const engineA = startProcess('engine-a', engineArgs(pa));
  startProcess('engine-b', engineArgs(pb));
  await waitFor('engine a ready', async () => (await request(pa, 'GET', '/health/ready')).status === 200, 60_000);
  await waitFor('engine b ready', async () => (await request(pb, 'GET', '/health/ready')).status === 200, 60_000);
  const gateway = startProcess('gateway', ['serve', '--role', 'gateway', '--host', '127.0.0.1', '--port', String(pg),
    '--upstream', `http://127.0.0.1:${pa}`, '--upstream', `http://127.0.0.1:${pb}`, '--health-interval', '1',
    '--api-key', GW_KEY, '--upstream-api-key', ENGINE_KEY, '--chains', chainsFile]);
  await waitFor('gateway ready', async () => (await request(pg, 'GET', '/health/ready')).status === 200, 30_000);
  log('engines and gateway are up');

  // Listing and auth.
  check((await request(pg, 'GET', '/chains')).status === 401, '/chains without the key should be 401');
  const list = json(await request(pg, 'GET', '/chains', { key: GW_KEY }), 'GET /chains');
  const names = list.data.map((c) => c.name).sort();
  check(JSON.stringify(names) === JSON.stringify(['mood', 'story', 'two_steps']), `chains listed: ${names}`);

  // Invoke: the text is the engine's own answer to the rendered prompt.
  const expected = await engineText(pa, 'Once upon a time, Lily');
  check(expected.length > 0, 'the engine generated nothing');
  const before = totalRequests(await upstreamRequests(pg));
  const inv = await request(pg, 'POST', '/chains/story/invoke', { key: GW_KEY, body: { input: { name: 'Lily' } } });
  check(inv.status === 200, `invoke: HTTP ${inv.status}: ${inv.body}`);
  const got = json(inv, 'invoke').output;
  check(got === expected, `invoke output ${JSON.stringify(got)} is not the engine's ${JSON.stringify(expected)}`);
  const after = totalRequests(await upstreamRequests(pg));
  check(after === before + 1, `the chain's model call should have gone through the pool once (${before} -> ${after})`);
  log(`invoke through the gateway = engine output: ${JSON.stringify(got)}`);

  // Stream (LangServe's protocol): metadata, text chunks adding up to the output, then end.
  const st = await request(pg, 'POST', '/chains/story/stream', { key: GW_KEY, body: { input: { name: 'Lily' } } });
  check(st.status === 200, `stream: HTTP ${st.status}: ${st.body}`);
  const events = st.body.split('\n\n').filter((b) => b.startsWith('event: '));
  const dataEvents = events.filter((e) => e.startsWith('event: data'));
  check(events[0].startsWith('event: metadata'), `stream: the first event should be metadata: ${events[0]}`);
  check(events[events.length - 1] === 'event: end', `stream: the last event should be a bare end: ${events.at(-1)}`);
  check(dataEvents.length > 1, `stream: expected several data events, got ${dataEvents.length}`);
  const streamed = dataEvents.map((e) => JSON.parse(e.split('\ndata: ')[1])).join('');
  check(streamed === expected, `stream output ${JSON.stringify(streamed)} != ${JSON.stringify(expected)}`);
  log(`stream: ${dataEvents.length} data events, same output`);

  // Sequential chain: two model calls, the second prompt built from the first output.
  const seq = await request(pg, 'POST', '/chains/two_steps/invoke', { key: GW_KEY, body: { input: { name: 'Lily' } } });
  check(seq.status === 200, `sequential: HTTP ${seq.status}: ${seq.body}`);
  const seqOut = json(seq, 'sequential').output;
  check(seqOut.first === expected, `sequential first step ${JSON.stringify(seqOut.first)}`);
  const second = await engineText(pb, `The end. ${expected}`);
  check(seqOut.second === second, `sequential second step ${JSON.stringify(seqOut.second)} != ${JSON.stringify(second)}`);

  // JSON schema: constrained decoding on the engine, parsed on the gateway.
  const mood = await request(pg, 'POST', '/chains/mood/invoke', { key: GW_KEY, body: { input: { name: 'Tom' } } });
  check(mood.status === 200, `json chain: HTTP ${mood.status}: ${mood.body}`);
  const moodOut = json(mood, 'json chain').output;
  check(['happy', 'sad', 'sleepy'].includes(moodOut.mood), `json chain output ${JSON.stringify(moodOut)}`);
  log(`sequential and JSON-schema chains ok (${JSON.stringify(moodOut)})`);

  // One engine down: chains keep answering from the other.
  engineA.kill('SIGKILL');
  await engineA.exitPromise;
  for (let i = 0; i < 4; i++) {
    const r = await request(pg, 'POST', '/chains/story/invoke', { key: GW_KEY, body: { input: { name: 'Lily' } } });
    check(r.status === 200, `invoke with engine a down: HTTP ${r.status}: ${r.body}`);
    check(json(r, 'invoke').output === expected, 'invoke with engine a down: different output');
  }
  log('engine a killed: chains still answer from engine b');

  gateway.kill('SIGTERM');
  const exit = await Promise.race([gateway.exitPromise, sleep(20_000).then(() => null)]);
  check(exit && exit.code === 0, `the gateway should exit 0 on SIGTERM (${JSON.stringify(exit)})`);
  log(`PASS (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  cleanup();
  fs.rmSync(workDir, { recursive: true, force: true });
  process.exit(0);
}

main().catch((e) => fail(e.stack || String(e)));
