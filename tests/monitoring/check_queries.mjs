#!/usr/bin/env node
// Checks the PromQL of the Grafana dashboard and of the alerting rules against what llmchain
// really exports (tests/monitoring/run_dashboard.sh scrapes a live engine and gateway first):
//
//   node check_queries.mjs --dashboard D.json --rules R.yaml [--promtool promtool] METRICS.txt...
//
//  1. the dashboard is JSON with a title, a uid, a `datasource` and a `model` template variable,
//     unique panel ids, and at least one query in every panel but rows;
//  2. every llmchain_* name a dashboard query, a template query or an alert uses has a sample
//     in one of the scraped expositions (METRICS.txt: the /metrics of real servers);
//  3. a dashboard query of a metric with a `model` label filters it by model=~"$model";
//     every label a query selects on (name{label=...}), groups by (by/without/on/ignoring/
//     group_left/group_right) or shows ({{label}} in a legend or an annotation) is a label of one
//     of its metrics in those expositions, or one Prometheus adds to every target;
//  4. with --promtool, every query parses: they are written into a rules file (Grafana's
//     $__rate_interval as 5m, $model as .*) and `promtool check rules` must accept it;
//  5. with --promtool, every dashboard query shows data when Prometheus holds what was
//     scraped (promtool test rules; see (b) below), unless it selects a label value that the
//     scrapes do not have, such as status="429" (reported as a note).
// Exit 0 when all pass, 1 with the list of problems otherwise. No npm packages needed.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  if (i < 0) return null;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const dashboardFile = opt('--dashboard');
const rulesFile = opt('--rules');
const promtool = opt('--promtool');
const expositions = argv;
if (!dashboardFile || !expositions.length) {
  console.error('usage: check_queries.mjs --dashboard D.json [--rules R.yaml] [--promtool BIN] METRICS.txt...');
  process.exit(2);
}

const problems = [];
const problem = (where, msg) => problems.push(`${where}: ${msg}`);

// Labels the Prometheus Operator (ServiceMonitor) or a Kubernetes scrape config adds to every
// series, which /metrics itself never shows.
const TARGET_LABELS = new Set(['namespace', 'job', 'instance', 'pod', 'service', 'container', 'endpoint']);

// ---- what the servers export: sample name -> Set of label names ----

const exported = new Map();
const values = new Set(); // `name label="value"` of every exported sample
const samples = []; // {file, name, labels (the text between the braces), value, counter}
expositions.forEach((file, f) => {
  const types = new Map();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const t = /^# TYPE (\S+) (\S+)/.exec(line);
    if (t) types.set(t[1], t[2]);
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) continue;
    if (!exported.has(m[1])) exported.set(m[1], new Set());
    for (const l of (m[3] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      exported.get(m[1]).add(l[1]);
      values.add(`${m[1]} ${l[1]}="${l[2]}"`);
    }
    const family = m[1].replace(/_(bucket|sum|count)$/, '');
    const type = types.get(m[1]) || types.get(family);
    samples.push({ file: f, name: m[1], labels: m[3] || '', value: Number(m[4]), counter: type === 'counter' || type === 'histogram' });
  }
});

// ---- the queries ----

// [{where, expr, legends: [string]}]
const queries = [];
let dashboard;
try {
  dashboard = JSON.parse(fs.readFileSync(dashboardFile, 'utf8'));
} catch (e) {
  console.error(`FAIL: ${dashboardFile} is not JSON: ${e.message}`);
  process.exit(1);
}
const dw = path.basename(dashboardFile);
if (!dashboard.title) problem(dw, 'no title');
if (!dashboard.uid) problem(dw, 'no uid');
const vars = new Map((dashboard.templating?.list || []).map((v) => [v.name, v]));
if (vars.get('datasource')?.type !== 'datasource' || vars.get('datasource')?.query !== 'prometheus') {
  problem(dw, 'needs a `datasource` template variable of Prometheus data sources');
}
const model = vars.get('model');
if (!model) problem(dw, 'needs a `model` template variable');
for (const v of vars.values()) {
  const q = typeof v.query === 'string' ? v.query : v.query?.query;
  if (v.type === 'query' && q) {
    const m = /^label_values\((.*),\s*(\w+)\)$/.exec(q.trim());
    if (!m) problem(dw, `template variable ${v.name}: expected label_values(metric, label), got ${q}`);
    else queries.push({ where: `${dw} variable ${v.name}`, expr: m[1], legends: [`{{${m[2]}}}`] });
  }
}
const ids = new Set();
const allPanels = [];
const walk = (panels) => {
  for (const p of panels || []) {
    allPanels.push(p);
    walk(p.panels);
  }
};
walk(dashboard.panels);
if (!allPanels.length) problem(dw, 'no panels');
for (const p of allPanels) {
  const pw = `${dw} panel "${p.title}"`;
  if (ids.has(p.id)) problem(pw, `duplicate id ${p.id}`);
  ids.add(p.id);
  if (p.type === 'row') continue;
  const targets = (p.targets || []).filter((t) => t.expr);
  if (!targets.length) problem(pw, 'no query');
  for (const t of targets) queries.push({ where: `${pw} query ${t.refId}`, expr: t.expr, legends: [t.legendFormat || ''], panel: true });
}
if (rulesFile) {
  // The rules file is YAML; its expr and annotations are read with a small line parser
  // (no npm packages here): `expr:` (inline or a block scalar) and the annotation lines.
  const lines = fs.readFileSync(rulesFile, 'utf8').split('\n');
  const rw = path.basename(rulesFile);
  let alert = null;
  for (let i = 0; i < lines.length; i++) {
    const a = /^\s*- alert:\s*(\S+)/.exec(lines[i]);
    if (a) {
      alert = { where: `${rw} alert ${a[1]}`, expr: '', legends: [] };
      queries.push(alert);
      continue;
    }
    if (!alert) continue;
    const e = /^(\s*)expr:\s*(.*)$/.exec(lines[i]);
    if (e) {
      if (/^[|>]/.test(e[2])) {
        const body = [];
        while (i + 1 < lines.length && (lines[i + 1].trim() === '' || lines[i + 1].search(/\S/) > e[1].length)) body.push(lines[++i].trim());
        alert.expr = body.join('\n').trim();
      } else {
        alert.expr = e[2].trim();
      }
      continue;
    }
    if (/\{\{\s*\$labels\./.test(lines[i])) {
      alert.legends.push(lines[i].replace(/\{\{\s*\$labels\.(\w+)\s*\}\}/g, '{{$1}}'));
    }
  }
  if (!queries.some((q) => q.where.startsWith(rw))) problem(rw, 'no alerts found');
}

// ---- checks ----

const used = new Set();
for (const q of queries) {
  const names = [...new Set(q.expr.match(/\bllmchain_[a-zA-Z0-9_]+/g) || [])];
  if (!names.length) problem(q.where, `queries no llmchain_* metric: ${q.expr}`);
  const known = new Set([...TARGET_LABELS]);
  for (const n of names) {
    used.add(n);
    if (!exported.has(n)) problem(q.where, `${n} is not in the servers' /metrics`);
    else for (const l of exported.get(n)) known.add(l);
  }
  // Labels named in selectors of each metric.
  for (const m of q.expr.matchAll(/\b(llmchain_[a-zA-Z0-9_]+)\s*\{([^}]*)\}/g)) {
    for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)) {
      const own = exported.get(m[1]);
      if (own && !own.has(l[1]) && !TARGET_LABELS.has(l[1])) problem(q.where, `${m[1]} has no label ${l[1]}`);
    }
  }
  // A dashboard query of a metric with a model label follows the `model` variable.
  if (q.panel) {
    for (const m of q.expr.matchAll(/\b(llmchain_[a-zA-Z0-9_]+)(\s*\{([^}]*)\})?/g)) {
      if (exported.get(m[1])?.has('model') && !/\bmodel\s*=~\s*"\$model"/.test(m[3] || '')) {
        problem(q.where, `${m[1]} has a model label but is not filtered by model=~"$model"`);
      }
    }
  }
  // Labels in grouping and matching clauses, and in legends.
  for (const m of q.expr.matchAll(/\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)) {
    for (const l of m[2].split(',').map((s) => s.trim()).filter(Boolean)) {
      if (!known.has(l)) problem(q.where, `${m[1]} (${l}): none of ${names.join(', ')} has a label ${l}`);
    }
  }
  for (const legend of q.legends) {
    for (const m of legend.matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)) {
      if (!known.has(m[1])) problem(q.where, `shows {{${m[1]}}}, a label none of ${names.join(', ')} has`);
    }
  }
}

// A dashboard query may come back empty only when it asks for a label value the scrapes do
// not have (status="429" after traffic without a 429): returns that matcher, or null.
function absentValue(expr) {
  for (const m of expr.matchAll(/\b(llmchain_[a-zA-Z0-9_]+)\s*\{([^}]*)\}/g)) {
    for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)"/g)) {
      if (!values.has(`${m[1]} ${l[1]}="${l[2]}"`)) return `${l[1]}="${l[2]}"`;
    }
  }
  return null;
}

const promql = (q) => q.expr.replaceAll('$__rate_interval', '5m').replaceAll('$model', '.*');
const yamlQuote = (str) => `'${str.replaceAll("'", "''")}'`;
if (promtool) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmchain-queries-'));
  try {
    // (a) Every query parses.
    const file = path.join(dir, 'queries.yaml');
    const rules = queries.map((q, i) => `      - record: llmchain:query_${i}\n        expr: ${yamlQuote(promql(q))}`);
    fs.writeFileSync(file, `groups:\n  - name: queries\n    rules:\n${rules.join('\n')}\n`);
    let parsed = true;
    try {
      execFileSync(promtool, ['check', 'rules', file], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      parsed = false;
      const out = `${e.stdout}${e.stderr}`;
      const bad = [...new Set([...out.matchAll(/llmchain:query_(\d+)/g)].map((m) => Number(m[1])))];
      for (const i of bad) problem(queries[i].where, `does not parse: ${queries[i].expr}`);
      problem('promtool check rules', `rejects the queries:\n${out}`);
    }
    // (b) Every dashboard panel shows data: the scrapes become promtool input series, ten
    // minutes of them (counters grow by their scraped value each minute, gauges stay), each
    // scrape a target of its own (namespace, job, instance), and an alert `absent(query)` per
    // query must not fire. An alert query may rightly be empty (nothing to alert on).
    if (parsed) {
      const checked = queries.map((q, i) => ({ q, i })).filter(({ q }) => q.panel && !absentValue(q.expr));
      const alerts = checked.map(({ i }) => `      - alert: QueryEmpty_${i}\n        expr: absent(llmchain:query_${i})`);
      fs.writeFileSync(file, `groups:\n  - name: queries\n    rules:\n${[...rules, ...alerts].join('\n')}\n`);
      const series = samples.map((smp) => {
        const target = `namespace="test", job="job${smp.file}", instance="127.0.0.1:${9000 + smp.file}"`;
        const labels = smp.labels ? `${smp.labels}, ${target}` : target;
        const v = Number.isFinite(smp.value) ? smp.value : 0;
        return `      - series: ${yamlQuote(`${smp.name}{${labels}}`)}\n        values: '${smp.counter ? `0+${v}x10` : `${v}x10`}'`;
      });
      const tests = checked.map(({ i }) => `      - eval_time: 10m\n        alertname: QueryEmpty_${i}\n        exp_alerts: []`);
      const testFile = path.join(dir, 'test.yaml');
      fs.writeFileSync(testFile, `rule_files: [queries.yaml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n${series.join('\n')}\n    alert_rule_test:\n${tests.join('\n')}\n`);
      try {
        execFileSync(promtool, ['test', 'rules', testFile], { encoding: 'utf8', stdio: 'pipe', cwd: dir });
        console.log(`ok: ${checked.length} dashboard queries show data on the scraped metrics`);
      } catch (e) {
        const out = `${e.stdout}${e.stderr}`;
        const empty = [...new Set([...out.matchAll(/alertname: QueryEmpty_(\d+)/g)].map((m) => Number(m[1])))];
        for (const i of empty) problem(queries[i].where, `shows no data on the scraped metrics: ${queries[i].expr}`);
        if (!empty.length) problem('promtool test rules', `failed:\n${out}`);
      }
      const skipped = queries.filter((q) => q.panel && absentValue(q.expr));
      for (const q of skipped) console.log(`note: ${q.where} may be empty: no scraped sample has ${absentValue(q.expr)}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (problems.length) {
  console.error(`FAIL: ${problems.length} problem(s):`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`PASS: ${queries.length} queries (${allPanels.length} panels${rulesFile ? ' and the alerts' : ''}) use ${used.size} metrics, all exported`);
