// Connection benchmark for `llmchain serve` (not a test: prints figures). What the HTTP layer
// must hold (issue 17): many idle or slow connections while a fresh client is answered at once,
// and a closed client noticed within one decode step.
//
//   build/tests/llmchain-testing serve --fake-engine --fake-token-delay-ms 20 --port 8080 --parallel 4 &
//   node bench/load/connections.mjs --url http://127.0.0.1:8080 --pid $! --idle 1000 --slow 1000 --token-ms 20
//
// With --log FILE (the server's stderr, --log-format json) it also reads when the server ended
// each closed stream's response (its access-log line, found by the X-Request-Id sent): that is
// when the server noticed the close and cancelled the generation.
//
// 1. A fresh client's GET /health/live and time to the first streamed token, on a quiet server.
// 2. The same with --idle connections open and silent and --slow ones sending a request line and
//    half a header, never finishing; the server's resident memory and threads (--pid) with them.
// 3. Closed clients: --trials streams, each closed after its first token; the time from the close
//    to the server's llmchain_requests_cancelled_total counting it (polled every 2 ms), against
//    the engine's time per token (--token-ms).
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1] && !all[i + 1].startsWith('--') ? all[i + 1] : 'true']);
  return acc;
}, []));
const url = new URL(args.url || 'http://127.0.0.1:8080');
const host = url.hostname;
const port = Number(url.port || 80);
const pid = args.pid ? Number(args.pid) : 0;
const nIdle = Number(args.idle ?? 1000);
const nSlow = Number(args.slow ?? 1000);
const trials = Number(args.trials ?? 20);
const tokenMs = Number(args['token-ms'] ?? 0);
const logFile = args.log || '';
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

const now = () => Number(process.hrtime.bigint()) / 1e6;
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const fmt = (x) => (x === undefined ? '-' : x.toFixed(1));

function get(path) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const req = http.get({ host, port, path, agent, timeout: 10000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, ms: now() - t0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

// Streams a completion; resolves at its first token with the time and the request (to close).
function firstToken(maxTokens, requestId = '') {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const body = JSON.stringify({ prompt: 'echo: ' + 'x'.repeat(maxTokens), max_tokens: maxTokens, stream: true });
    const headers = { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) };
    if (requestId) headers['X-Request-Id'] = requestId;
    const req = http.request({ host, port, path: '/v1/completions', method: 'POST', agent, timeout: 10000, headers },
                             (res) => {
      res.once('data', () => resolve({ ms: now() - t0, t0, req, res }));
    });
    req.on('error', (e) => { if (e.code !== 'ECONNRESET') reject(e); });
    req.end(body);
  });
}

async function cancelledTotal() {
  const m = await get('/metrics');
  const line = m.body.split('\n').find((l) => l.startsWith('llmchain_requests_cancelled_total'));
  return line ? Number(line.split(' ')[1]) : NaN;
}

function serverStats() {
  if (!pid) return {};
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (k) => Number((st.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm')) || [])[1]);
  return { rssMiB: field('VmRSS') / 1024, threads: field('Threads') };
}

async function freshClient(label) {
  const health = [];
  const ttft = [];
  for (let i = 0; i < 20; ++i) {
    const r = await get('/health/live');
    if (r.status !== 200) throw new Error(`/health/live answered ${r.status}`);
    health.push(r.ms);
  }
  for (let i = 0; i < 5; ++i) {
    const t = await firstToken(4);
    ttft.push(t.ms);
    t.res.resume();
    await new Promise((r) => t.res.on('end', r));
  }
  const s = serverStats();
  console.log(`${label.padEnd(34)} health p50 ${fmt(pct(health, 50))} ms, max ${fmt(Math.max(...health))} ms; ` +
              `first token p50 ${fmt(pct(ttft, 50))} ms, max ${fmt(Math.max(...ttft))} ms` +
              (pid ? `; server RSS ${fmt(s.rssMiB)} MiB, ${s.threads} threads` : ''));
}

function open(n, send) {
  return Promise.all(Array.from({ length: n }, () => new Promise((resolve) => {
    const s = net.connect({ host, port }, () => {
      if (send) s.write(send);
      resolve(s);
    });
    s.on('error', () => resolve(s));
  })));
}

async function main() {
  await freshClient('quiet server:');
  const t0 = now();
  const idle = await open(nIdle, '');
  const slow = await open(nSlow, 'GET /health/live HTTP/1.1\r\nHost: x\r\nX-Slow: ');
  await new Promise((r) => setTimeout(r, 1000));
  const open_ = idle.concat(slow).filter((s) => !s.destroyed).length;
  console.log(`opened ${nIdle} idle + ${nSlow} slow connections in ${fmt(now() - t0)} ms (${open_} still open)`);
  await freshClient(`with ${nIdle} idle + ${nSlow} slow:`);
  for (const s of idle.concat(slow)) s.destroy();
  await new Promise((r) => setTimeout(r, 500));

  const detect = [];
  const ended = [];
  for (let i = 0; i < trials; ++i) {
    const before = await cancelledTotal();
    const id = `conn-bench-${process.pid}-${i}`;
    const t = await firstToken(400, id);
    const closed = now();
    t.req.destroy();
    if (logFile) {
      // The access-log line is written when the handler returns: the close was noticed.
      while (now() - closed < 5000) {
        const line = fs.readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes(`"${id}"`));
        if (line) {
          ended.push(t.t0 + JSON.parse(line).duration_ms - closed);
          break;
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    let seen = NaN;
    while (now() - closed < 5000) {
      if ((await cancelledTotal()) > before) {
        seen = now() - closed;
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    detect.push(seen);
  }
  if (ended.length) {
    console.log(`closed client noticed by the server (access log, n=${ended.length}): p50 ${fmt(pct(ended, 50))} ms, ` +
                `p90 ${fmt(pct(ended, 90))} ms, max ${fmt(Math.max(...ended))} ms` +
                (tokenMs ? ` (one decode step: ${tokenMs} ms)` : ''));
  }
  const ok = detect.filter((x) => !Number.isNaN(x));
  console.log(`closed client's generation cancelled (metrics, n=${trials}, ${trials - ok.length} never): p50 ${fmt(pct(ok, 50))} ms, ` +
              `p90 ${fmt(pct(ok, 90))} ms, max ${fmt(Math.max(...ok))} ms` +
              (tokenMs ? ` (one decode step: ${tokenMs} ms; includes the /metrics polling)` : ''));
}

main().catch((e) => {
  console.error(`connections.mjs: ${e.message}`);
  process.exit(1);
});
