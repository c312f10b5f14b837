// Validates the deployment files offline:
//  1. renders every kustomization under deploy/k8s (base, overlays/*, examples/*)
//     with `kubectl kustomize` (or `kustomize build`);
//  2. validates every rendered object against the Kubernetes schemas of
//     kubernetes-models (types, required fields, enums, formats such as quantities);
//  3. rejects unknown fields. kubernetes-models ships its schemas compiled to
//     ajv validator functions, which ignore properties a schema does not name.
//     The validator is run on a proxy of the object that records every property
//     the validator reads (a schema'd object reads each property it knows; a map
//     such as labels enumerates its keys), so a property nobody read is one the
//     schema does not have. A self-test plants unknown fields and checks they are caught;
//  4. checks the project's deployment rules (security context, probes, resources,
//     graceful termination, references between objects, GPU overlay);
//  5. checks deploy/compose.yaml and deploy/docker/Dockerfile for the same rules.
// Exit 0 when everything passes, 1 with a list of problems otherwise.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const k8sDir = path.join(root, 'deploy/k8s');
const problems = [];
const problem = (where, msg) => problems.push(`${where}: ${msg}`);

// ---- rendering ----

function renderer() {
  for (const [cmd, args] of [['kubectl', ['kustomize']], ['kustomize', ['build']]]) {
    try {
      execFileSync(cmd, ['version', ...(cmd === 'kubectl' ? ['--client'] : [])], { stdio: 'ignore' });
      return (dir) => execFileSync(cmd, [...args, dir], { encoding: 'utf8', maxBuffer: 64 << 20 });
    } catch { /* try the next */ }
  }
  return null;
}

function kustomizations() {
  const dirs = [path.join(k8sDir, 'base')];
  for (const group of ['overlays', 'examples']) {
    const g = path.join(k8sDir, group);
    if (!fs.existsSync(g)) continue;
    for (const d of fs.readdirSync(g).sort()) {
      if (fs.existsSync(path.join(g, d, 'kustomization.yaml'))) dirs.push(path.join(g, d));
    }
  }
  return dirs;
}

// ---- schema validation with unknown-field detection ----

const modelCache = new Map();
async function modelFor(apiVersion, kind) {
  const key = `${apiVersion}/${kind}`;
  if (!modelCache.has(key)) {
    const group = apiVersion.includes('/') ? apiVersion : `v1`;
    const spec = apiVersion.includes('/') ? `kubernetes-models/${group}/${kind}` : `kubernetes-models/v1/${kind}`;
    try {
      const mod = await import(spec);
      modelCache.set(key, mod[kind] || null);
    } catch {
      modelCache.set(key, null);
    }
  }
  return modelCache.get(key);
}

// Wraps `value` so reads are recorded in known: path -> Set of property names read.
function tracked(value, p, known, cache) {
  if (value === null || typeof value !== 'object') return value;
  if (cache.has(value)) return cache.get(value);
  if (!known.has(p)) known.set(p, new Set());
  const seen = known.get(p);
  const note = (k) => { if (typeof k === 'string') seen.add(k); };
  const proxy = new Proxy(value, {
    get(t, k, r) {
      note(k);
      const v = Reflect.get(t, k, r);
      return typeof k === 'string' && Object.hasOwn(t, k) ? tracked(v, `${p}/${k}`, known, cache) : v;
    },
    has(t, k) { note(k); return Reflect.has(t, k); },
    ownKeys(t) { Reflect.ownKeys(t).forEach(note); return Reflect.ownKeys(t); },
    getOwnPropertyDescriptor(t, k) { note(k); return Reflect.getOwnPropertyDescriptor(t, k); },
  });
  cache.set(value, proxy);
  return proxy;
}

function unknownFields(value, p, known, out) {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => unknownFields(v, `${p}/${i}`, known, out));
    return;
  }
  const seen = known.get(p) || new Set();
  for (const k of Object.keys(value)) {
    if (!seen.has(k)) out.push(`${p}/${k}`);
    else unknownFields(value[k], `${p}/${k}`, known, out);
  }
}

// Returns a list of problems for one object (empty when valid).
async function validateObject(obj) {
  const errs = [];
  if (!obj || typeof obj !== 'object' || !obj.apiVersion || !obj.kind) return ['not a Kubernetes object (apiVersion/kind)'];
  const Model = await modelFor(obj.apiVersion, obj.kind);
  if (!Model) return [`no schema for ${obj.apiVersion} ${obj.kind}`];
  const known = new Map();
  try {
    Model.prototype.validate.call(tracked(obj, '', known, new WeakMap()));
  } catch (e) {
    errs.push(`schema: ${e.message}`);
  }
  const unknown = [];
  unknownFields(obj, '', known, unknown);
  for (const u of unknown) errs.push(`unknown field ${u}`);
  return errs;
}

async function selfTest() {
  const good = {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x', labels: { a: 'b' } },
    spec: {
      selector: { matchLabels: { a: 'b' } },
      template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i', resources: { limits: { cpu: '1' } } }] } },
    },
  };
  const check = async (what, obj, expect) => {
    const errs = await validateObject(obj);
    const ok = expect ? errs.some((e) => e.includes(expect)) : errs.length === 0;
    if (!ok) problem('validator self-test', `${what}: expected ${expect || 'no problem'}, got ${JSON.stringify(errs)}`);
  };
  await check('valid Deployment', good, null);
  const typo = structuredClone(good);
  typo.spec.replica = 2;
  await check('misspelt field', typo, 'unknown field /spec/replica');
  const deep = structuredClone(good);
  deep.spec.template.spec.containers[0].securityContex = {};
  await check('unknown nested field', deep, 'unknown field /spec/template/spec/containers/0/securityContex');
  const type = structuredClone(good);
  type.spec.replicas = 'two';
  await check('wrong type', type, 'schema:');
  const qty = structuredClone(good);
  qty.spec.template.spec.containers[0].resources.limits.cpu = 'lots';
  await check('bad quantity', qty, 'schema:');
}

// ---- project rules ----

const byKind = (objs, kind) => objs.filter((o) => o.kind === kind);
const labelsMatch = (selector, labels) => Object.entries(selector || {}).every(([k, v]) => labels && labels[k] === v);

function checkRules(where, objs, { gpu }) {
  const names = new Set(objs.map((o) => `${o.kind}/${o.metadata.name}`));
  const deployments = byKind(objs, 'Deployment');
  const cfg = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('llmchain-config'));
  let requestTimeout = 600;
  if (!cfg) problem(where, 'no llmchain-config ConfigMap');
  else {
    const server = YAML.parse(cfg.data['llmchain.yaml'] || '').server || {};
    requestTimeout = Number(server.request_timeout ?? 600);
    if (!cfg.data['chains.yaml']) problem(where, 'llmchain-config has no chains.yaml');
    else YAML.parse(cfg.data['chains.yaml']);
  }
  for (const role of ['engine', 'gateway']) {
    if (!deployments.some((d) => d.metadata.labels['app.kubernetes.io/component'] === role)) {
      problem(where, `no ${role} Deployment`);
    }
  }
  for (const d of deployments) {
    const w = `${where} Deployment/${d.metadata.name}`;
    const pod = d.spec.template.spec;
    if (!labelsMatch(d.spec.selector.matchLabels, d.spec.template.metadata.labels)) problem(w, 'selector does not match the pod labels');
    if (pod.securityContext?.runAsNonRoot !== true) problem(w, 'pod securityContext.runAsNonRoot must be true');
    if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault') problem(w, 'pod seccompProfile must be RuntimeDefault');
    if (pod.automountServiceAccountToken !== false) problem(w, 'automountServiceAccountToken should be false');
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    if (grace <= requestTimeout) problem(w, `terminationGracePeriodSeconds ${grace} must exceed request_timeout ${requestTimeout}`);
    const volumes = new Set((pod.volumes || []).map((v) => v.name));
    for (const v of pod.volumes || []) {
      if (v.configMap && !names.has(`ConfigMap/${v.configMap.name}`)) problem(w, `volume ${v.name}: no ConfigMap ${v.configMap.name}`);
      if (v.persistentVolumeClaim && !names.has(`PersistentVolumeClaim/${v.persistentVolumeClaim.claimName}`)) {
        problem(w, `volume ${v.name}: no PersistentVolumeClaim ${v.persistentVolumeClaim.claimName}`);
      }
    }
    for (const c of [...(pod.initContainers || []), ...pod.containers]) {
      const cw = `${w} container ${c.name}`;
      const sc = c.securityContext || {};
      if (sc.allowPrivilegeEscalation !== false) problem(cw, 'allowPrivilegeEscalation must be false');
      if (sc.readOnlyRootFilesystem !== true) problem(cw, 'readOnlyRootFilesystem must be true');
      if (!(sc.capabilities?.drop || []).includes('ALL')) problem(cw, 'capabilities must drop ALL');
      if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory) {
        problem(cw, 'needs cpu/memory requests and a memory limit');
      }
      if (/:latest$/.test(c.image) || !c.image.includes(':')) problem(cw, `image ${c.image} must have a fixed tag`);
      for (const m of c.volumeMounts || []) if (!volumes.has(m.name)) problem(cw, `mount of unknown volume ${m.name}`);
      if (!(c.volumeMounts || []).some((m) => m.mountPath === '/tmp')) problem(cw, 'needs a writable /tmp (read-only root filesystem)');
      for (const e of c.envFrom || []) {
        if (e.configMapRef && !names.has(`ConfigMap/${e.configMapRef.name}`)) problem(cw, `envFrom: no ConfigMap ${e.configMapRef.name}`);
      }
    }
    for (const c of pod.containers) {
      const cw = `${w} container ${c.name}`;
      if (c.readinessProbe?.httpGet?.path !== '/health/ready') problem(cw, 'readinessProbe must GET /health/ready');
      if (c.livenessProbe?.httpGet?.path !== '/health/live') problem(cw, 'livenessProbe must GET /health/live');
      if (!c.startupProbe) problem(cw, 'needs a startupProbe (model load)');
      if (!c.lifecycle?.preStop) problem(cw, 'needs a preStop hook (endpoint removal before SIGTERM)');
      const ports = new Set((c.ports || []).map((p) => p.name));
      for (const pr of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
        const port = pr?.httpGet?.port;
        if (typeof port === 'string' && !ports.has(port)) problem(cw, `probe port ${port} is not a container port`);
      }
    }
    const role = d.metadata.labels['app.kubernetes.io/component'];
    if (role === 'engine') {
      const c = pod.containers[0];
      if (!(pod.initContainers || []).some((i) => i.args?.join(' ').includes('llmchain pull'))) {
        problem(w, 'engines need the init container that runs llmchain pull');
      }
      if (c.startupProbe?.httpGet?.path !== '/health/ready') problem(w, 'the engine startupProbe must cover the model load (/health/ready)');
      if (gpu) {
        if (c.resources?.limits?.['nvidia.com/gpu'] === undefined) problem(w, 'gpu overlay: no nvidia.com/gpu limit');
        if (!(pod.tolerations || []).some((t) => t.key === 'nvidia.com/gpu')) problem(w, 'gpu overlay: no nvidia.com/gpu toleration');
        if (!pod.nodeSelector || Object.keys(pod.nodeSelector).length === 0) problem(w, 'gpu overlay: no nodeSelector');
      } else if (c.resources?.limits?.['nvidia.com/gpu'] !== undefined) {
        problem(w, 'a CPU deployment must not ask for GPUs');
      }
    }
    if (role === 'gateway') {
      const args = pod.containers[0].args || [];
      const i = args.indexOf('--upstream');
      if (i < 0) problem(w, 'the gateway needs --upstream');
      else {
        const host = new URL(args[i + 1]).hostname;
        const svc = byKind(objs, 'Service').find((s) => s.metadata.name === host);
        if (!svc) problem(w, `--upstream host ${host} is not a Service`);
        else if (svc.spec.clusterIP !== 'None') problem(w, `--upstream Service ${host} must be headless (clusterIP: None)`);
      }
    }
  }
  for (const s of byKind(objs, 'Service')) {
    const target = deployments.find((d) => labelsMatch(s.spec.selector, d.spec.template.metadata.labels));
    if (!target) problem(`${where} Service/${s.metadata.name}`, 'selects no Deployment');
    else {
      const ports = new Set(target.spec.template.spec.containers.flatMap((c) => (c.ports || []).map((p) => p.name)));
      for (const p of s.spec.ports) {
        if (typeof p.targetPort === 'string' && !ports.has(p.targetPort)) problem(`${where} Service/${s.metadata.name}`, `targetPort ${p.targetPort} is not a container port`);
      }
    }
  }
  for (const p of byKind(objs, 'PodDisruptionBudget')) {
    if (!deployments.some((d) => labelsMatch(p.spec.selector.matchLabels, d.spec.template.metadata.labels))) {
      problem(`${where} PodDisruptionBudget/${p.metadata.name}`, 'selects no Deployment');
    }
  }
  const hpas = byKind(objs, 'HorizontalPodAutoscaler');
  if (!hpas.length) problem(where, 'no HorizontalPodAutoscaler');
  for (const h of hpas) {
    if (!names.has(`${h.spec.scaleTargetRef.kind}/${h.spec.scaleTargetRef.name}`)) problem(`${where} HPA/${h.metadata.name}`, 'scales an unknown target');
  }
  for (const kind of ['PodDisruptionBudget', 'PersistentVolumeClaim']) {
    if (!byKind(objs, kind).length) problem(where, `no ${kind}`);
  }
}

// ---- compose and Dockerfile ----

function checkCompose() {
  const file = path.join(root, 'deploy/compose.yaml');
  const doc = YAML.parse(fs.readFileSync(file, 'utf8'), { merge: true });
  const w = 'deploy/compose.yaml';
  const svc = doc.services || {};
  if (!svc.engine || !svc.gateway) return problem(w, 'needs services engine and gateway');
  if ((svc.engine.deploy?.replicas ?? 1) < 2) problem(w, 'engine needs 2 replicas');
  for (const [name, s] of Object.entries(svc)) {
    if (s.read_only !== true) problem(w, `${name}: read_only must be true`);
    if (!(s.cap_drop || []).includes('ALL')) problem(w, `${name}: cap_drop must include ALL`);
    if (!(s.tmpfs || []).includes('/tmp')) problem(w, `${name}: needs a /tmp tmpfs`);
  }
  const args = svc.gateway.command || [];
  const i = args.indexOf('--upstream');
  if (i < 0 || new URL(args[i + 1]).hostname !== 'engine') problem(w, 'gateway must use --upstream http://engine:8080');
  if (!(svc.engine.volumes || []).some((v) => String(v).startsWith('models:/models'))) problem(w, 'engine must mount the models volume at /models');
  if (!doc.volumes?.models) problem(w, 'needs a models volume');
}

function checkDockerfile() {
  const w = 'deploy/docker/Dockerfile';
  const text = fs.readFileSync(path.join(root, w), 'utf8');
  const need = [
    [/^FROM \$\{DEBIAN_IMAGE\} AS build$/m, 'a build stage on debian:bookworm'],
    [/^ARG DEBIAN_IMAGE=debian:bookworm$/m, 'debian:bookworm as the build base'],
    [/^ARG DEBIAN_SLIM_IMAGE=debian:bookworm-slim$/m, 'debian:bookworm-slim as the run base'],
    [/scripts\/setup\.sh/, 'the project setup script'],
    [/-DCMAKE_BUILD_TYPE=Release/, 'a Release build'],
    [/-DLLMCHAIN_TESTS=OFF/, 'no tests in the image build'],
    [/^USER 10001/m, 'a non-root USER'],
    [/^HEALTHCHECK .*\n?.*\/health\/live/m, 'a HEALTHCHECK on /health/live'],
    [/^EXPOSE 8080$/m, 'EXPOSE 8080'],
    [/^ENTRYPOINT \["llmchain"\]$/m, 'ENTRYPOINT ["llmchain"]'],
    [/^CMD \["serve", "--host", "0\.0\.0\.0", "--port", "8080", "-m", "\/models\/model\.gguf"\]$/m, 'the default serve CMD'],
  ];
  for (const [re, what] of need) if (!re.test(text)) problem(w, `missing ${what}`);
  const code = text.split('\n').filter((l) => !l.trimStart().startsWith('#')).join('\n');
  if (/march=native/.test(code)) problem(w, 'must not use -march=native');
}

// ---- main ----

const render = renderer();
if (!render) {
  console.log('neither kubectl nor kustomize found: skipping the Kubernetes manifest checks');
  process.exit(77);
}
await selfTest();
let objects = 0;
for (const dir of kustomizations()) {
  const rel = path.relative(root, dir);
  let text;
  try {
    text = render(dir);
  } catch (e) {
    problem(rel, `kustomize failed: ${e.stderr || e.message}`);
    continue;
  }
  const docs = YAML.parseAllDocuments(text);
  const objs = [];
  for (const d of docs) {
    if (d.errors.length) problem(rel, `YAML: ${d.errors[0].message}`);
    const o = d.toJS();
    if (o) objs.push(o);
  }
  for (const o of objs) {
    for (const e of await validateObject(o)) problem(`${rel} ${o.kind}/${o.metadata?.name}`, e);
  }
  checkRules(rel, objs, { gpu: rel.includes('gpu') });
  objects += objs.length;
  console.log(`${rel}: ${objs.length} objects rendered and checked`);
}
checkCompose();
checkDockerfile();
if (problems.length) {
  console.error(`FAIL: ${problems.length} problem(s):`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`PASS: ${objects} objects, compose.yaml and Dockerfile`);
