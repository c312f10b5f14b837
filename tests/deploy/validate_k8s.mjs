// Validates the deployment files offline:
//  1. renders every kustomization under deploy/k8s (base, overlays/*, examples/*)
//     with `kubectl kustomize` (or `kustomize build`); every component must be used
//     by one of them, so that it is rendered and checked too;
//  2. validates every rendered object against the Kubernetes schemas of
//     kubernetes-models (types, required fields, enums, formats such as quantities),
//     and the Prometheus Operator objects (ServiceMonitor, PrometheusRule) against
//     their CRDs' schemas, vendored in crds/ (crd_schemas.mjs);
//  3. rejects unknown fields. kubernetes-models ships its schemas compiled to
//     ajv validator functions, which ignore properties a schema does not name.
//     The validator is run on a proxy of the object that records every property
//     the validator reads (a schema'd object reads each property it knows; a map
//     such as labels enumerates its keys), so a property nobody read is one the
//     schema does not have. A self-test plants unknown fields and checks they are caught;
//  4. checks the project's deployment rules (security context, probes, resources,
//     graceful termination, references between objects, threads from the CPU
//     limit, the cpu-large overlay's whole cores; the ServiceMonitor scrapes both
//     roles and the PrometheusRule carries deploy/monitoring/llmchain-alerts.yaml);
//  5. checks deploy/compose.yaml, the root Dockerfile and .dockerignore, and that
//     the Dockerfile paths the docs and scripts name exist.
// Exit 0 when everything passes, 1 with a list of problems otherwise.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import YAML from 'yaml';
import { crdSchemas } from './crd_schemas.mjs';

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
  const crd = crdSchemas().validatorFor(obj.apiVersion, obj.kind);
  // A custom resource's metadata is ObjectMeta: checked as a ConfigMap's (same schema, same unknown-field check).
  if (crd) return crd(obj, (metadata) => validateObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata }));
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

  // The Prometheus Operator objects (crd_schemas.mjs).
  const sm = {
    apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: { name: 'x', labels: { a: 'b' } },
    spec: { selector: { matchLabels: { a: 'b' } }, endpoints: [{ port: 'http', path: '/metrics', interval: '15s' }] },
  };
  await check('valid ServiceMonitor', sm, null);
  const smTypo = structuredClone(sm);
  smTypo.spec.endpoint = [];
  await check('ServiceMonitor: misspelt field', smTypo, 'unknown field /spec/endpoint');
  const smDeep = structuredClone(sm);
  smDeep.spec.endpoints[0].intervall = '15s';
  await check('ServiceMonitor: unknown nested field', smDeep, 'unknown field /spec/endpoints/0/intervall');
  const smType = structuredClone(sm);
  smType.spec.endpoints[0].port = 8080;
  await check('ServiceMonitor: wrong type', smType, 'schema: /spec/endpoints/0/port');
  const smDuration = structuredClone(sm);
  smDuration.spec.endpoints[0].interval = '15 seconds';
  await check('ServiceMonitor: bad duration', smDuration, 'schema: /spec/endpoints/0/interval');
  const smMeta = structuredClone(sm);
  smMeta.metadata.lables = {};
  await check('ServiceMonitor: unknown metadata field', smMeta, 'unknown field /metadata/lables');
  const pr = {
    apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', metadata: { name: 'x' },
    spec: { groups: [{ name: 'g', rules: [{ alert: 'A', expr: 'up == 0', for: '5m', labels: { severity: 'warning' } }] }] },
  };
  await check('valid PrometheusRule', pr, null);
  const prTypo = structuredClone(pr);
  prTypo.spec.groups[0].rules[0].annotation = {};
  await check('PrometheusRule: misspelt field', prTypo, 'unknown field /spec/groups/0/rules/0/annotation');
  const prFor = structuredClone(pr);
  prFor.spec.groups[0].rules[0].for = '5 minutes';
  await check('PrometheusRule: bad duration', prFor, 'schema: /spec/groups/0/rules/0/for');
  const prDup = structuredClone(pr);
  prDup.spec.groups.push(structuredClone(prDup.spec.groups[0]));
  await check('PrometheusRule: two groups of one name', prDup, 'duplicate items');
  const prMissing = structuredClone(pr);
  delete prMissing.spec.groups[0].name;
  await check('PrometheusRule: group without a name', prMissing, 'schema: /spec/groups/0');
}

// ---- project rules ----

const byKind = (objs, kind) => objs.filter((o) => o.kind === kind);
const labelsMatch = (selector, labels) => Object.entries(selector || {}).every(([k, v]) => labels && labels[k] === v);
const alertsFile = 'deploy/monitoring/llmchain-alerts.yaml';

// Kubernetes' QoS class of a pod spec (init containers count too).
function qosClass(pod) {
  const all = [...(pod.initContainers || []), ...pod.containers];
  const guaranteed = all.every((c) => ['cpu', 'memory'].every((r) => {
    const limit = c.resources?.limits?.[r];
    const request = c.resources?.requests?.[r] ?? limit;
    return limit !== undefined && String(request) === String(limit);
  }));
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

// The hardening every workload's pod must have (Deployments and StatefulSets alike).
function checkPodHardening(w, workload) {
  const pod = workload.spec.template.spec;
  if (!labelsMatch(workload.spec.selector.matchLabels, workload.spec.template.metadata.labels)) problem(w, 'selector does not match the pod labels');
  if (pod.securityContext?.runAsNonRoot !== true) problem(w, 'pod securityContext.runAsNonRoot must be true');
  if (pod.securityContext?.seccompProfile?.type !== 'RuntimeDefault') problem(w, 'pod seccompProfile must be RuntimeDefault');
  if (pod.automountServiceAccountToken !== false) problem(w, 'automountServiceAccountToken should be false');
}

// The hardening every container must have; `volumes`: the names its pod can mount.
function checkContainerHardening(cw, c, volumes) {
  const sc = c.securityContext || {};
  if (sc.allowPrivilegeEscalation !== false) problem(cw, 'allowPrivilegeEscalation must be false');
  if (sc.readOnlyRootFilesystem !== true) problem(cw, 'readOnlyRootFilesystem must be true');
  if (!(sc.capabilities?.drop || []).includes('ALL')) problem(cw, 'capabilities must drop ALL');
  if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory) {
    problem(cw, 'needs cpu/memory requests and a memory limit');
  }
  if (/:latest$/.test(c.image) || !c.image.includes(':')) problem(cw, `image ${c.image} must have a fixed tag`);
  for (const m of c.volumeMounts || []) if (!volumes.has(m.name)) problem(cw, `mount of unknown volume ${m.name}`);
}

function checkRules(where, objs, { cpuLarge }) {
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
    checkPodHardening(w, d);
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
      checkContainerHardening(cw, c, volumes);
      if (!(c.volumeMounts || []).some((m) => m.mountPath === '/tmp')) problem(cw, 'needs a writable /tmp (read-only root filesystem)');
      for (const e of c.envFrom || []) {
        if (e.configMapRef && !names.has(`ConfigMap/${e.configMapRef.name}`)) problem(cw, `envFrom: no ConfigMap ${e.configMapRef.name}`);
      }
    }
    const role = d.metadata.labels['app.kubernetes.io/component'];
    for (const c of pod.containers) {
      const cw = `${w} container ${c.name}`;
      if (role === 'engine') {
        // The engines' probes are native gRPC ones on the health service of their gRPC port.
        const grpcPort = (c.ports || []).find((p) => p.name === 'grpc')?.containerPort;
        if (!grpcPort) problem(cw, 'the engine needs a container port named grpc');
        const args = c.args || [];
        const gi = args.indexOf('--grpc-port');
        if (gi < 0 || Number(args[gi + 1]) !== grpcPort) problem(cw, '--grpc-port must be the grpc container port');
        for (const [name, pr] of [['readinessProbe', c.readinessProbe], ['startupProbe', c.startupProbe]]) {
          if (pr?.grpc?.port !== grpcPort || pr?.grpc?.service !== 'llmchain.v1.Engine') {
            problem(cw, `${name} must be a grpc probe of llmchain.v1.Engine on the grpc port`);
          }
        }
        if (c.livenessProbe?.grpc?.port !== grpcPort) problem(cw, 'livenessProbe must be a grpc probe on the grpc port');
      } else {
        if (c.readinessProbe?.httpGet?.path !== '/health/ready') problem(cw, 'readinessProbe must GET /health/ready');
        if (c.livenessProbe?.httpGet?.path !== '/health/live') problem(cw, 'livenessProbe must GET /health/live');
      }
      if (!c.startupProbe) problem(cw, 'needs a startupProbe (model load)');
      if (!c.lifecycle?.preStop) problem(cw, 'needs a preStop hook (endpoint removal before SIGTERM)');
      const ports = new Set((c.ports || []).map((p) => p.name));
      for (const pr of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
        const port = pr?.httpGet?.port;
        if (typeof port === 'string' && !ports.has(port)) problem(cw, `probe port ${port} is not a container port`);
      }
    }
    if (role === 'engine') {
      const c = pod.containers[0];
      if (!(pod.initContainers || []).some((i) => i.args?.join(' ').includes('llmchain pull'))) {
        problem(w, 'engines need the init container that runs llmchain pull');
      }
      // The engine has no GPU backend: a GPU would sit idle.
      if (Object.keys({ ...c.resources?.limits, ...c.resources?.requests }).some((r) => r.includes('gpu'))) {
        problem(w, 'the engine has no GPU backend: it must not ask for GPUs');
      }
      // It uses transparent huge pages (madvise), not hugetlbfs: hugepages-* would be reserved and unused.
      if (Object.keys({ ...c.resources?.limits, ...c.resources?.requests }).some((r) => r.startsWith('hugepages-'))) {
        problem(w, 'the engine does not use hugetlbfs: it must not request hugepages-*');
      }
      const threads = (c.env || []).find((e) => e.name === 'LLMCHAIN_THREADS');
      const ref = threads?.valueFrom?.resourceFieldRef;
      if (!ref || ref.resource !== 'limits.cpu' || (ref.containerName && ref.containerName !== c.name)) {
        problem(w, 'LLMCHAIN_THREADS must come from the engine container\'s limits.cpu (downward API)');
      }
      if (cpuLarge) {
        if (qosClass(pod) !== 'Guaranteed') problem(w, 'cpu-large: requests must equal limits in every container (Guaranteed QoS)');
        if (!/^[1-9][0-9]*$/.test(String(c.resources?.limits?.cpu))) problem(w, 'cpu-large: the engine CPU limit must be a whole number of cores');
        if (!pod.nodeSelector || Object.keys(pod.nodeSelector).length === 0) problem(w, 'cpu-large: no nodeSelector');
      }
    }
    if (role === 'gateway') {
      const args = pod.containers[0].args || [];
      const i = args.indexOf('--upstream');
      if (i < 0) problem(w, 'the gateway needs --upstream');
      else {
        const url = new URL(args[i + 1]);
        const host = url.hostname;
        const svc = byKind(objs, 'Service').find((s) => s.metadata.name === host);
        if (url.protocol !== 'grpc:') problem(w, `--upstream ${args[i + 1]}: the gateway reaches the engines over gRPC (grpc://)`);
        if (!svc) problem(w, `--upstream host ${host} is not a Service`);
        else {
          if (svc.spec.clusterIP !== 'None') problem(w, `--upstream Service ${host} must be headless (clusterIP: None)`);
          const sp = (svc.spec.ports || []).find((p) => p.port === Number(url.port));
          if (!sp || sp.targetPort !== 'grpc') problem(w, `--upstream port ${url.port} is not the Service's grpc port`);
        }
      }
    }
  }
  // StatefulSets (Redis, the chains' shared memory): the same hardening as the Deployments,
  // probes of their own kind, their Service headless and present.
  const statefulSets = byKind(objs, 'StatefulSet');
  for (const st of statefulSets) {
    const w = `${where} StatefulSet/${st.metadata.name}`;
    const pod = st.spec.template.spec;
    checkPodHardening(w, st);
    const svc = byKind(objs, 'Service').find((x) => x.metadata.name === st.spec.serviceName);
    if (!svc) problem(w, `serviceName ${st.spec.serviceName} is not a Service`);
    else if (svc.spec.clusterIP !== 'None') problem(w, `Service ${st.spec.serviceName} must be headless (clusterIP: None)`);
    const volumes = new Set([...(pod.volumes || []), ...(st.spec.volumeClaimTemplates || []).map((t) => t.metadata)].map((v) => v.name));
    for (const c of pod.containers) {
      const cw = `${w} container ${c.name}`;
      checkContainerHardening(cw, c, volumes);
      if (!c.readinessProbe || !c.livenessProbe) problem(cw, 'needs readiness and liveness probes');
    }
  }
  // Gateways that keep chain memory in Redis name a Service that exists.
  for (const d of deployments.filter((x) => x.metadata.labels['app.kubernetes.io/component'] === 'gateway')) {
    const env = Object.fromEntries((d.spec.template.spec.containers[0].env || []).map((e) => [e.name, e.value]));
    if (env.LLMCHAIN_MEMORY_STORE === 'redis') {
      const url = env.LLMCHAIN_REDIS_URL;
      const host = url ? new URL(url).hostname : '';
      if (!host) problem(`${where} Deployment/${d.metadata.name}`, 'LLMCHAIN_MEMORY_STORE=redis needs LLMCHAIN_REDIS_URL');
      else if (!host.includes('.') && !byKind(objs, 'Service').some((x) => x.metadata.name === host)) {
        problem(`${where} Deployment/${d.metadata.name}`, `LLMCHAIN_REDIS_URL host ${host} is not a Service`);
      }
    }
  }
  const workloads = [...deployments, ...statefulSets];
  for (const s of byKind(objs, 'Service')) {
    const target = workloads.find((d) => labelsMatch(s.spec.selector, d.spec.template.metadata.labels));
    if (!target) problem(`${where} Service/${s.metadata.name}`, 'selects no Deployment or StatefulSet');
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
  checkMonitoring(where, objs);
}

// The ServiceMonitor scrapes both roles' /metrics; the PrometheusRule carries the rules file.
function checkMonitoring(where, objs) {
  const services = byKind(objs, 'Service');
  for (const sm of byKind(objs, 'ServiceMonitor')) {
    const w = `${where} ServiceMonitor/${sm.metadata.name}`;
    const selected = services.filter((s) => labelsMatch(sm.spec.selector?.matchLabels, s.metadata.labels));
    for (const role of ['engine', 'gateway']) {
      if (!selected.some((s) => s.metadata.labels?.['app.kubernetes.io/component'] === role)) problem(w, `selects no ${role} Service`);
    }
    for (const e of sm.spec.endpoints || []) {
      if ((e.path || '/metrics') !== '/metrics') problem(w, `endpoint path ${e.path} is not /metrics`);
      for (const s of selected) {
        if (!s.spec.ports.some((p) => p.name === e.port)) problem(w, `port ${e.port} is not a port of Service ${s.metadata.name}`);
      }
    }
  }
  const rules = YAML.parse(fs.readFileSync(path.join(root, alertsFile), 'utf8'));
  for (const pr of byKind(objs, 'PrometheusRule')) {
    if (!isDeepStrictEqual(pr.spec.groups, rules.groups)) {
      problem(`${where} PrometheusRule/${pr.metadata.name}`, `its groups differ from ${alertsFile} (run bash scripts/gen_prometheus_rule.sh)`);
    }
  }
}

// Every component must be used by a kustomization that is rendered here.
function checkComponentsUsed(dirs) {
  const used = new Set();
  for (const d of dirs) {
    const k = YAML.parse(fs.readFileSync(path.join(d, 'kustomization.yaml'), 'utf8'));
    for (const c of k.components || []) used.add(path.resolve(d, c));
  }
  const cdir = path.join(k8sDir, 'components');
  if (!fs.existsSync(cdir)) return;
  for (const c of fs.readdirSync(cdir).sort()) {
    if (!used.has(path.join(cdir, c))) problem(`deploy/k8s/components/${c}`, 'no overlay or example uses it, so nothing renders and checks it');
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
  // Gateway -> engines over gRPC; chain memory in Redis, kept on a volume (AOF).
  const args = svc.gateway.command || [];
  const i = args.indexOf('--upstream');
  const engineArgs = svc.engine.command || [];
  const gi = engineArgs.indexOf('--grpc-port');
  if (gi < 0) problem(w, 'engine must serve gRPC (--grpc-port)');
  if (i < 0 || args[i + 1] !== `grpc://engine:${engineArgs[gi + 1]}`) problem(w, 'gateway must use --upstream grpc://engine:<the engines\' --grpc-port>');
  if (!svc.redis) problem(w, 'needs a redis service (the chains\' shared memory)');
  else {
    const rc = (svc.redis.command || []).join(' ');
    if (!/--appendonly yes/.test(rc)) problem(w, 'redis must run with --appendonly yes');
    const vol = (svc.redis.volumes || []).map(String).find((v) => v.endsWith(':/data'));
    if (!vol || !Object.hasOwn(doc.volumes || {}, vol.split(':')[0])) problem(w, 'redis needs a named volume at /data');
  }
  const env = svc.gateway.environment || {};
  if (env.LLMCHAIN_MEMORY_STORE !== 'redis' || !/^redis:\/\/redis:6379/.test(env.LLMCHAIN_REDIS_URL || '')) {
    problem(w, 'gateway chain memory must go to the redis service (LLMCHAIN_MEMORY_STORE, LLMCHAIN_REDIS_URL)');
  }
  if (!(svc.engine.volumes || []).some((v) => String(v).startsWith('models:/models'))) problem(w, 'engine must mount the models volume at /models');
  if (!doc.volumes?.models) problem(w, 'needs a models volume');
}

function checkDockerfile() {
  const w = 'Dockerfile'; // at the root: `docker build -t llm-app .`
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

  // The context is the repository root: build trees, VCS data, node packages and models stay out.
  const ignore = new Set(fs.readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()));
  for (const pattern of ['.git', 'build*', '**/build', '**/node_modules', 'models', '**/*.gguf']) {
    if (!ignore.has(pattern)) problem('.dockerignore', `missing ${pattern}`);
  }
  // Every Dockerfile path the docs and scripts name must exist.
  const files = ['README.md', 'deploy/README.md', 'deploy/compose.yaml', '.dockerignore',
    ...fs.readdirSync(path.join(root, 'scripts')).filter((f) => f.endsWith('.sh')).map((f) => `scripts/${f}`)];
  for (const f of files) {
    const refs = fs.readFileSync(path.join(root, f), 'utf8').match(/[\w./-]*Dockerfile\b/g) || [];
    for (const r of new Set(refs)) if (!fs.existsSync(path.join(root, r))) problem(f, `names ${r}, which does not exist`);
  }
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
  checkRules(rel, objs, { cpuLarge: rel.endsWith('cpu-large') });
  objects += objs.length;
  console.log(`${rel}: ${objs.length} objects rendered and checked`);
}
checkComponentsUsed(kustomizations());
checkCompose();
checkDockerfile();
problems.push(...crdSchemas().problems);
if (problems.length) {
  console.error(`FAIL: ${problems.length} problem(s):`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`PASS: ${objects} objects, compose.yaml, Dockerfile and .dockerignore`);
