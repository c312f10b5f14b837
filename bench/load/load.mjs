#!/usr/bin/env node
// Load generator for `llmchain serve` or any OpenAI-compatible server such as
// llama.cpp's llama-server (not a test). For each concurrency level
// it runs closed-loop clients that stream fixed-size completions and reports
// generated tokens/s, time-to-first-token p50/p99, end-to-end p50 and errors.
//
//   node bench/load/load.mjs --url http://127.0.0.1:8080 [--levels 1,4,16,64]
//        [--requests 4] [--max-tokens 64] [--prompt-tokens 32] [--api-key KEY] [--chat]
//
// No dependencies (node >= 18 fetch). Prompt length is fixed by repeating a
// word; output length by max_tokens with ignore-free sampling (temperature 0),
// so runs are comparable.
const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : 'true']);
  return acc;
}, []));
const url = (args.url || 'http://127.0.0.1:8080').replace(/\/$/, '');
const levels = (args.levels || '1,4,16,64').split(',').map(Number);
const perClient = Number(args.requests || 4);
const maxTokens = Number(args['max-tokens'] || 64);
const promptWords = Number(args['prompt-tokens'] || 32);
const chat = args.chat === 'true';
const headers = { 'Content-Type': 'application/json' };
if (args['api-key']) headers.Authorization = `Bearer ${args['api-key']}`;
const prompt = Array.from({ length: promptWords }, () => 'once').join(' ');
// The served model's id (servers that check "model" answer 404 for other names).
const modelId = await fetch(`${url}/v1/models`, { headers }).then((r) => r.json()).then((j) => j.data[0].id)
  .catch(() => 'default');

function pct(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function one() {
  const body = { model: modelId, max_tokens: maxTokens, temperature: 0, stream: true,
    stream_options: { include_usage: true } };
  if (chat) body.messages = [{ role: 'user', content: prompt }];
  else body.prompt = prompt;
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/${chat ? 'chat/completions' : 'completions'}`, {
    method: 'POST', headers, body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let ttft = NaN;
  let tokens = 0;
  let done = false;
  for (;;) {
    const { value, done: end } = await reader.read();
    if (end) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ')) continue;
      if (ev === 'data: [DONE]') { done = true; continue; }
      const j = JSON.parse(ev.slice(6));
      if (j.error) throw new Error(j.error.message);
      if (j.usage) tokens = j.usage.completion_tokens;
      const c = j.choices?.[0];
      const piece = c ? (chat ? c.delta?.content : c.text) : '';
      if (piece && Number.isNaN(ttft)) ttft = performance.now() - t0;
    }
  }
  if (!done) throw new Error('stream ended without [DONE]');
  return { ttft, e2e: performance.now() - t0, tokens };
}

async function level(clients) {
  const ttfts = [];
  const e2es = [];
  let tokens = 0;
  let errors = 0;
  let firstError = '';
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    for (let r = 0; r < perClient; r++) {
      try {
        const m = await one();
        if (!Number.isNaN(m.ttft)) ttfts.push(m.ttft);
        e2es.push(m.e2e);
        tokens += m.tokens;
      } catch (e) {
        errors++;
        firstError ||= String(e.message || e);
      }
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  return { clients, requests: clients * perClient, errors, secs, tps: tokens / secs, tokens,
    ttft50: pct(ttfts, 50), ttft99: pct(ttfts, 99), e2e50: pct(e2es, 50), firstError };
}

// llmchain serves /health/ready; llama.cpp's llama-server serves /health.
let health = await fetch(`${url}/health/ready`).catch(() => null);
if (health && health.status === 404) health = await fetch(`${url}/health`).catch(() => null);
if (!health || health.status !== 200) {
  console.error(`server at ${url} is not ready (${health ? health.status : 'unreachable'})`);
  process.exit(1);
}
console.log(`llmchain load: ${url} ${chat ? 'chat' : 'completions'}, prompt ~${promptWords} words, ` +
  `max_tokens ${maxTokens}, ${perClient} requests per client`);
console.log('clients  requests  errors   gen tok/s   TTFT p50 ms   TTFT p99 ms   e2e p50 ms   wall s');
for (const c of levels) {
  const r = await level(c);
  console.log(`${String(r.clients).padStart(7)}  ${String(r.requests).padStart(8)}  ${String(r.errors).padStart(6)}` +
    `  ${r.tps.toFixed(1).padStart(10)}  ${r.ttft50.toFixed(1).padStart(12)}  ${r.ttft99.toFixed(1).padStart(12)}` +
    `  ${r.e2e50.toFixed(1).padStart(11)}  ${r.secs.toFixed(2).padStart(7)}`);
  if (r.firstError) console.log(`         first error: ${r.firstError}`);
}
