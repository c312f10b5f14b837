// Validators for the Prometheus Operator objects (ServiceMonitor, PrometheusRule), built from the
// openAPIV3Schema of their CustomResourceDefinitions, vendored in crds/ from a release tag (each
// file's header says which, with the sha256 of the text it copied; a mismatch is reported).
//
// The schemas are checked the way the API server would treat them:
//  * unknown fields are rejected: every object schema without additionalProperties and without
//    x-kubernetes-preserve-unknown-fields gets additionalProperties: false (the API server would
//    prune such fields, or refuse them under strict field validation);
//  * x-kubernetes-list-type map / set: items must be unique (by x-kubernetes-list-map-keys);
//  * formats int32 / int64 / date-time are checked, nullable is honoured (ajv's OpenAPI keyword);
//  * patterns are RE2, as in the API server (Go), not JavaScript regular expressions;
//  * metadata is validated as Kubernetes ObjectMeta by the caller (validateMeta).
// Not checked: x-kubernetes-validations (CEL) rules; these two CRDs have none at this tag.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Ajv from 'ajv';
import { RE2 } from 're2-wasm';
import YAML from 'yaml';

const here = path.dirname(fileURLToPath(import.meta.url));
const CRD_FILES = ['monitoring.coreos.com_servicemonitors.yaml', 'monitoring.coreos.com_prometheusrules.yaml'];

// Reads a vendored CRD: the header's recorded sha256 must match the text after the header.
function readCrd(file) {
  const text = fs.readFileSync(path.join(here, 'crds', file), 'utf8');
  const lines = text.split('\n');
  let i = 0;
  while (i < lines.length && lines[i].startsWith('#')) i++;
  const header = lines.slice(0, i).join('\n');
  const body = lines.slice(i).join('\n');
  const want = /sha256: ([0-9a-f]{64})/.exec(header)?.[1];
  const got = crypto.createHash('sha256').update(body).digest('hex');
  const problems = [];
  if (!want) problems.push(`crds/${file}: no sha256 in the header`);
  else if (want !== got) problems.push(`crds/${file}: the vendored text was changed (sha256 ${got}, header says ${want})`);
  return { crd: YAML.parse(body), problems };
}

// Closes every object schema (see the header) and returns the schema.
function strict(schema) {
  if (!schema || typeof schema !== 'object') return schema;
  if (Array.isArray(schema)) return schema.map(strict);
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, strict(s)])) : strict(v);
  }
  if (out.type === 'object' && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields']) {
    out.additionalProperties = false;
  }
  return out;
}

// Patterns as the API server reads them (Go's RE2: `(?i)` and friends), as kubernetes-models does.
const re2 = (pattern, flags) => new RE2(pattern, flags);
re2.code = 'new RE2';

function makeAjv() {
  const ajv = new Ajv({
    allErrors: true,
    strict: false, // OpenAPI schemas carry x-kubernetes-* annotations and descriptions
    code: { regExp: re2 },
    formats: {
      int32: { type: 'number', validate: (n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 },
      int64: { type: 'number', validate: (n) => Number.isInteger(n) },
      'date-time': /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i,
    },
  });
  ajv.addKeyword({
    keyword: 'x-kubernetes-list-type',
    type: 'array',
    schemaType: 'string',
    errors: false,
    validate(kind, items, parentSchema) {
      if (kind !== 'map' && kind !== 'set') return true; // atomic: anything goes
      const keys = parentSchema['x-kubernetes-list-map-keys'] || [];
      const id = (item) => JSON.stringify(kind === 'map' ? keys.map((k) => item?.[k]) : item);
      return new Set(items.map(id)).size === items.length;
    },
  });
  return ajv;
}

function describe(e) {
  if (e.keyword === 'additionalProperties') return `unknown field ${e.instancePath}/${e.params.additionalProperty}`;
  if (e.keyword === 'x-kubernetes-list-type') return `schema: ${e.instancePath || '/'} has duplicate items (x-kubernetes-list-type)`;
  return `schema: ${e.instancePath || '/'} ${e.message}`;
}

// Builds the validators once. Returns { validatorFor(apiVersion, kind), problems }:
// validatorFor gives (obj, validateMeta) => Promise<[problem...]>, or null for other kinds.
let built = null;
export function crdSchemas() {
  if (built) return built;
  const ajv = makeAjv();
  const validators = new Map();
  const problems = [];
  for (const file of CRD_FILES) {
    const { crd, problems: p } = readCrd(file);
    problems.push(...p);
    for (const v of crd.spec.versions) {
      if (!v.served) continue;
      const schema = strict(v.schema.openAPIV3Schema);
      delete schema.properties.metadata; // ObjectMeta, validated by the caller
      schema.properties.metadata = { type: 'object' };
      schema.additionalProperties = false;
      schema.required = [...new Set([...(schema.required || []), 'apiVersion', 'kind', 'metadata'])];
      const validate = ajv.compile(schema);
      const apiVersion = `${crd.spec.group}/${v.name}`;
      const kind = crd.spec.names.kind;
      validators.set(`${apiVersion}/${kind}`, async (obj, validateMeta) => {
        const errs = [];
        if (!validate(obj)) errs.push(...validate.errors.map(describe));
        if (obj.metadata) errs.push(...(await validateMeta(obj.metadata)));
        return [...new Set(errs)];
      });
    }
  }
  built = { validatorFor: (apiVersion, kind) => validators.get(`${apiVersion}/${kind}`) || null, problems };
  return built;
}
