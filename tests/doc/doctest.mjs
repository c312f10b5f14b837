#!/usr/bin/env node
// README doc-test: runs every shell command the user-facing docs show, the way a user would
// type it, and fails on a non-zero exit, a crash, or a log line on stdout.
//
//   node tests/doc/doctest.mjs --bin build/apps/llmchain --shared ../shared [FILE...]
//
// Sources (default): README.md, deploy/README.md, and the usage comment at the top of every
// examples/*.yaml (its `#   llmchain ...` lines). From Markdown, every ```sh / ```bash block.
//
// Markers, an HTML comment on the lines just above a block (invisible on GitHub):
//   <!-- doctest: skip: REASON -->   not run here (Docker, Kubernetes, the network); the
//                                    reason names the test that covers it instead
// How a block runs:
//   * Each logical line (backslash continuations joined) runs with bash in a fresh temp folder,
//     `llmchain` on PATH, paths under examples/ scripts/ deploy/ pointing into this checkout and
//     ../shared/ at the shared models.
//   * A line that starts `llmchain serve` starts a server in the background: the doc-test gives
//     it a free port (LLMCHAIN_PORT, and :8080 in the block's other lines becomes that port),
//     waits for /health/ready, runs the block's remaining lines against it, then stops it with
//     SIGTERM and expects exit 0.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(here, '..', '..');
const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const BIN = path.resolve(opt('--bin', path.join(REPO, 'build', 'apps', 'llmchain')));
const SHARED = path.resolve(opt('--shared', path.join(REPO, '..', 'shared')));
const LINE_TIMEOUT_MS = Number(opt('--timeout', '300')) * 1000;

// What a log line looks like in any of our formats: spdlog text ([12:00:00.000] [info]),
// a bare level tag, or a JSON log record.
const LOG_LINE = /^(\[\d\d:\d\d:\d\d(\.\d+)?\]|\[(trace|debug|info|warning|warn|error|critical)\]|\{"ts":)/m;

// ---- extraction ------------------------------------------------------------------------------

// [{file, line, commands: [string], skip: reason|null}]
function markdownBlocks(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^```(\w*)\s*$/.exec(lines[i]);
    if (!m) continue;
    let j = i + 1;
    while (j < lines.length && !/^```\s*$/.test(lines[j])) j++;
    const lang = m[1];
    if (['sh', 'bash', 'shell'].includes(lang)) {
      let k = i - 1;
      while (k >= 0 && lines[k].trim() === '') k--;
      const marker = k >= 0 ? /<!--\s*doctest:\s*skip:?\s*(.*?)\s*-->/.exec(lines[k]) : null;
      blocks.push({ file, line: i + 2, commands: logicalLines(lines.slice(i + 1, j)),
        skip: marker ? marker[1] || 'marked skip' : null });
    }
    i = j;
  }
  return blocks;
}

// The usage comment at the top of a YAML example: its lines that are commands.
function yamlUsage(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const cmds = [];
  for (const l of lines) {
    if (!l.startsWith('#')) break;
    const body = l.replace(/^#\s*/, '');
    // commands are indented in the comment: "#   llmchain chain run ..."
    if (/^#\s{2,}(llmchain|bash|curl)\s/.test(l)) cmds.push(body);
  }
  return cmds.length ? [{ file, line: 1, commands: cmds, skip: null }] : [];
}

function logicalLines(raw) {
  const out = [];
  let cur = '';
  for (const l of raw) {
    if (cur === '' && (l.trim() === '' || l.trim().startsWith('#'))) continue;
    if (l.endsWith('\\')) {
      cur += l.slice(0, -1) + ' ';
      continue;
    }
    out.push(cur + l);
    cur = '';
  }
  if (cur) out.push(cur);
  return out;
}

// ---- running ---------------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function localize(cmd, port) {
  let c = cmd.replace(/(^|[\s=:'"])\.\.\/shared\//g, `$1${SHARED}/`);
  c = c.replace(/(^|[\s=:'"])((?:examples|scripts|deploy|web|tests)\/)/g, `$1${REPO}/$2`);
  if (port) c = c.replace(/(127\.0\.0\.1|localhost):8080\b/g, `$1:${port}`).replace(/--port\s+8080\b/g, `--port ${port}`);
  return c;
}

function run(cmd, env, cwd) {
  return new Promise((resolve) => {
    const p = spawn('bash', ['-o', 'pipefail', '-c', cmd], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), LINE_TIMEOUT_MS);
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

async function waitReady(port, proc, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) return false;
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health/ready`);
      if (r.status === 200) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function crashOrExit(r) {
  if (r.signal) return `killed by ${r.signal}`;
  if (r.code >= 128) return `crashed (exit ${r.code}, signal ${r.code - 128})`;
  return `exit ${r.code}`;
}

async function runBlock(block) {
  const failures = [];
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'llmchain-doctest-'));
  const env = { ...process.env, PATH: `${path.dirname(BIN)}:${process.env.PATH}`, LLMCHAIN_MEMORY_DIR: cwd };
  delete env.LLMCHAIN_PORT;
  const servers = [];
  const needsPort = block.commands.some((c) => /^(\S+=\S+\s+)*llmchain serve\b/.test(c));
  const port = needsPort ? await freePort() : 0;
  try {
    for (const original of block.commands) {
      const cmd = localize(original, port);
      const where = `${path.relative(REPO, block.file)}:${block.line}: ${original}`;
      if (/^(\S+=\S+\s+)*llmchain serve\b/.test(original)) {
        const bg = cmd.replace(/\s*&\s*(#.*)?$/, '');
        const p = spawn('bash', ['-c', `exec ${bg}`], { cwd, env: { ...env, LLMCHAIN_PORT: String(port) },
          stdio: ['ignore', 'pipe', 'pipe'] });
        const s = { where, proc: p, stdout: '', stderr: '' };
        p.stdout.on('data', (d) => { s.stdout += d; });
        p.stderr.on('data', (d) => { s.stderr += d; });
        servers.push(s);
        if (!(await waitReady(port, p, 60000))) {
          failures.push(`${where}\n  server did not become ready\n${indent(s.stderr)}`);
          break;
        }
        continue;
      }
      const t0 = Date.now();
      const r = await run(cmd, env, cwd);
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      if (r.code !== 0) {
        failures.push(`${where}\n  ${crashOrExit(r)}\n${indent(r.stderr || r.stdout)}`);
        break;
      }
      if (LOG_LINE.test(r.stdout)) failures.push(`${where}\n  log line on stdout:\n${indent(r.stdout)}`);
      console.log(`ok   ${where} (${secs} s)`);
    }
  } finally {
    for (const s of servers) {
      const exited = new Promise((resolve) => {
        if (s.proc.exitCode !== null || s.proc.signalCode !== null) resolve({ code: s.proc.exitCode, signal: s.proc.signalCode });
        else s.proc.on('exit', (code, signal) => resolve({ code, signal }));
      });
      s.proc.kill('SIGTERM');
      const timer = setTimeout(() => s.proc.kill('SIGKILL'), 30000);
      const t0 = Date.now();
      const r = await exited;
      clearTimeout(timer);
      if (Date.now() - t0 > 5000) console.log(`note ${s.where}: took ${((Date.now() - t0) / 1000).toFixed(1)} s to stop`);
      if (r.code !== 0) failures.push(`${s.where}\n  server ${crashOrExit(r)} after SIGTERM\n${indent(s.stderr)}`);
      else if (LOG_LINE.test(s.stdout)) failures.push(`${s.where}\n  server logged on stdout:\n${indent(s.stdout)}`);
      else console.log(`ok   ${s.where} (served, stopped cleanly)`);
    }
    fs.rmSync(cwd, { recursive: true, force: true });
  }
  return failures;
}

const indent = (t) => t.trim().split('\n').slice(-20).map((l) => '    ' + l).join('\n');

// ---- main ------------------------------------------------------------------------------------

if (!fs.existsSync(BIN)) {
  console.error(`doctest: ${BIN} not found (build first)`);
  process.exit(2);
}
if (!fs.existsSync(path.join(SHARED, 'models'))) {
  console.log(`SKIP: shared models not found under ${SHARED}`);
  process.exit(77);
}
let files = argv.length ? argv.map((f) => path.resolve(f)) : [path.join(REPO, 'README.md'), path.join(REPO, 'deploy', 'README.md'),
  ...fs.readdirSync(path.join(REPO, 'examples')).filter((f) => /\.ya?ml$/.test(f)).map((f) => path.join(REPO, 'examples', f))];
let blocks = [];
for (const f of files) blocks = blocks.concat(/\.ya?ml$/.test(f) ? yamlUsage(f) : markdownBlocks(f));

let failures = [];
let ran = 0;
for (const b of blocks) {
  if (b.skip) {
    console.log(`skip ${path.relative(REPO, b.file)}:${b.line}: ${b.skip}`);
    continue;
  }
  ran++;
  failures = failures.concat(await runBlock(b));
}
console.log(`\n${ran} block(s) run, ${blocks.length - ran} skipped, ${failures.length} failure(s)`);
for (const f of failures) console.log(`\nFAIL ${f}`);
if (ran === 0) {
  console.log('no runnable blocks found');
  process.exit(1);
}
process.exit(failures.length ? 1 : 0);
