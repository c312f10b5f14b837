// Browser test of the playground: headless Chromium (playwright-core) against `llmchain serve`.
//   node ui.test.mjs --bin build/apps/llmchain --model stories260K.gguf [--config examples/chains.yaml]
//                    --artifacts build/artifacts
// Two servers: the real model (chat streaming, chains tab) and the scripted fake engine with a
// per-token delay (Stop mid-stream, and a reply containing <script>/<img onerror> that must
// show as text). Exit 0: pass; 1: fail; 77: skipped (no browser).
import {spawn} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {chromium} from 'playwright-core';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
if (!fs.existsSync(CHROMIUM)) { console.log(`SKIP: ${CHROMIUM} not found`); process.exit(77); }
const artifacts = args.artifacts || 'artifacts';
fs.mkdirSync(artifacts, {recursive: true});

const children = [];
function startServer(extra) {
  return new Promise((resolve, reject) => {
    const argv = ['serve', '--host', '127.0.0.1', '--port', '0', ...extra];
    const child = spawn(args.bin, argv, {stdio: ['ignore', 'pipe', 'pipe']});
    children.push(child);
    let log = '';
    const timer = setTimeout(() => reject(new Error('server did not start:\n' + log)), 30000);
    const onData = (d) => {
      log += d.toString();
      const m = log.match(/listening on http:\/\/[\d.]+:(\d+)/);
      if (m) { clearTimeout(timer); resolve({url: `http://127.0.0.1:${m[1]}`, child, log: () => log}); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}:\n${log}`)); });
  });
}

function check(cond, what) {
  if (!cond) throw new Error('FAILED: ' + what);
  console.log('ok -', what);
}

let browser;
let failed = false;
try {
  let model;
  if (args.config) {
    model = await startServer(['-m', args.model, '--config', args.config]).catch((e) => {
      console.log(`note: ${args.config} does not load; testing without chains\n${e.message}`);
      return null;
    });
  }
  if (!model) model = await startServer(['-m', args.model]);
  const fake = await startServer(['--fake-engine', '--fake-token-delay-ms', '40']);

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  // bypassCSP: Playwright's polling needs eval, and the renderer must be safe without the
  // page's CSP anyway (the CSP itself is checked by the unit tests).
  const context = await browser.newContext({viewport: {width: 1280, height: 860}, bypassCSP: true});
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('dialog', (d) => d.dismiss());

  // 1. Chat against the real model: streamed text appears, stats are shown.
  await page.goto(model.url + '/');
  check(await page.title() === 'llmchain playground', 'playground served at /');
  await page.fill('#set-max-tokens', '48');
  await page.fill('#set-seed', '7');
  await page.fill('#chat-input', 'Once upon a time');
  await page.click('#send');
  await page.waitForFunction(() => {
    const b = document.querySelector('.msg.assistant .body');
    return b && b.textContent.trim().length > 0;
  }, null, {timeout: 30000});
  check(true, 'streamed text appears in the chat');
  await page.waitForSelector('.msg.assistant[data-done]', {timeout: 60000});
  const stats = await page.textContent('.msg.assistant .stats');
  check(/tokens/.test(stats) && /first token \d+ ms/.test(stats), `answer stats shown (${stats})`);

  // 2. Chains tab: run one chain if the server has any.
  await page.click('#tab-chains');
  await page.waitForFunction(() => document.querySelector('#chain-list li') || !document.querySelector('#chains-empty').hidden,
                             null, {timeout: 10000});
  const names = await page.$$eval('#chain-list button', (bs) => bs.map((b) => b.dataset.chain));
  console.log('chains:', names.join(', ') || '(none)');
  if (names.length) {
    const name = names.includes('product_description') ? 'product_description' : names[0];
    await page.click(`#chain-list button[data-chain="${name}"]`);
    await page.waitForSelector('#chain-fields textarea, #chain-fields input', {timeout: 10000});
    for (const f of await page.$$('#chain-fields textarea, #chain-fields input[type=number]')) await f.fill('wool socks');
    await page.fill('#chain-session', 'ui-test');
    await page.click('#chain-invoke');
    await page.waitForFunction(() => !document.querySelector('#chain-invoke').disabled, null, {timeout: 60000});
    const out = await page.textContent('#chain-output');
    const status = await page.textContent('#chain-status');
    check(out.trim().length > 0 && !/error/.test(status), `chain '${name}' ran (${status}): ${out.slice(0, 60)}`);
    await page.click('#chain-stream');
    await page.waitForFunction(() => !document.querySelector('#chain-stream').disabled, null, {timeout: 60000});
    check((await page.textContent('#chain-output')).trim().length > 0, `chain '${name}' streamed`);
    await page.screenshot({path: path.join(artifacts, 'ui-chains.png')});
    await page.click('#tab-chat');
  }

  // 3. The renderer keeps markup as text (checked in the page itself).
  const rendered = await page.evaluate(() => {
    window.__pwned = 0;
    const src = 'Hi <script>window.__pwned=1</script> <img src=x onerror="window.__pwned=2">\n```html\n<script>alert(1)</script>\n```\n**bold** `<b>x</b>`';
    const node = window.llmchain.renderMarkdown(src);
    document.body.appendChild(node);
    return {text: node.textContent, scripts: node.querySelectorAll('script').length, imgs: node.querySelectorAll('img').length,
            pre: node.querySelectorAll('pre code').length, strong: node.querySelectorAll('strong').length};
  });
  check(rendered.scripts === 0 && rendered.imgs === 0, 'renderMarkdown creates no <script>/<img> elements');
  check(rendered.text.includes('<script>window.__pwned=1</script>') && rendered.text.includes('onerror'), 'markup shown as text');
  check(rendered.pre === 1 && rendered.strong === 1, 'code block and bold rendered');

  await page.screenshot({path: path.join(artifacts, 'ui.png'), fullPage: true});

  // 4. Fake engine with a per-token delay: a hostile reply is shown as text; Stop cancels.
  const fpage = await context.newPage();
  fpage.on('pageerror', (e) => pageErrors.push(String(e)));
  await fpage.goto(fake.url + '/');
  const hostile = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">';
  await fpage.fill('#chat-input', 'echo: ' + hostile);
  await fpage.click('#send');
  await fpage.waitForSelector('.msg.assistant[data-done]', {timeout: 30000});
  const shown = await fpage.textContent('.msg.assistant .body');
  const evil = await fpage.evaluate(() => ({pwned: window.__pwned || 0,
    nodes: document.querySelectorAll('#messages script, #messages img').length}));
  check(shown.includes(hostile) && evil.pwned === 0 && evil.nodes === 0,
        'a model reply containing <script>/<img onerror> is shown as text');

  await fpage.fill('#set-max-tokens', '400');
  await fpage.fill('#chat-input', 'echo: ' + 'a long answer that keeps going '.repeat(12));
  await fpage.click('#send');
  await fpage.waitForFunction(() => {
    const all = document.querySelectorAll('.msg.assistant .body');
    return all.length === 2 && all[1].textContent.length >= 10;
  }, null, {timeout: 30000});
  await fpage.click('#stop');
  await fpage.waitForSelector('.msg.assistant[data-done="stopped"]', {timeout: 10000});
  const partial = await fpage.$$eval('.msg.assistant .body', (b) => b[1].textContent.length);
  check(partial > 0 && partial < 300, `Stop cancels mid-stream (${partial} of ~372 chars shown)`);
  check(!(await fpage.isDisabled('#send')), 'Send is enabled again after Stop');
  // The server is still serving after the abort.
  const health = await fetch(fake.url + '/health/live');
  check(health.status === 200, 'server healthy after the abort');

  await fpage.screenshot({path: path.join(artifacts, 'ui-stop.png')});
  check(pageErrors.length === 0, 'no page errors' + (pageErrors.length ? ': ' + pageErrors.join('; ') : ''));
  console.log('screenshot:', path.join(artifacts, 'ui.png'));
} catch (e) {
  failed = true;
  console.error(e.stack || String(e));
} finally {
  if (browser) await browser.close().catch(() => {});
  for (const c of children) c.kill('SIGTERM');
}
process.exit(failed ? 1 : 0);
