#!/usr/bin/env node
// Reference figures for `llmchain bench`: the same measurement made with llama.cpp's
// prebuilt CPU libraries, loaded through node-llama-cpp (pinned in ./package.json).
//
//   node bench/reference/llama_bench.mjs -m MODEL [-t THREADS] [-p 128] [-n 32] [-r 3] [--json] [--fa off|on|auto]
//
// Like llama-bench (and `llmchain bench`):
//   pp = one batch of P random tokens from an empty KV cache, logits of the last token only;
//   tg = N single-token decodes from an empty KV cache, logits every step (greedy pick).
// One context is used for all repetitions; the cache is cleared before each test
// (llama_memory_seq_rm, what llama-bench does), after one warm-up pp batch and one warm-up
// token. Times are wall clock around node-llama-cpp's calls, so they include its small
// per-call overhead (an event-loop hop and a greedy sample per token).
//
// Prints the table of `llmchain bench` (same columns; the isa column names the ggml CPU
// backend variant llama.cpp loaded, e.g. ggml-cpu-zen4), or with --json one object with the
// same keys as `llmchain bench --json`. Install the dependency first: `npm ci` in this folder
// (scripts/bench_vs_llamacpp.sh does it).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

function usage(code) {
  const out = code === 0 ? process.stdout : process.stderr;
  out.write(
    "usage: llama_bench.mjs -m MODEL [-t THREADS] [-p N_PROMPT] [-n N_GEN] [-r REPS] [--json] [--fa off|on|auto]\n",
  );
  process.exit(code);
}

function parseArgs(argv) {
  const o = { model: "", threads: 0, nPrompt: 128, nGen: 32, reps: 3, json: false, fa: "off" };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(2);
      return argv[++i];
    };
    const int = (name) => {
      const v = Number(val());
      if (!Number.isInteger(v) || v < 0) {
        process.stderr.write(`error: ${name} must be a non-negative integer\n`);
        process.exit(2);
      }
      return v;
    };
    if (a === "-m" || a === "--model") o.model = val();
    else if (a === "-t" || a === "--threads") o.threads = int("threads");
    else if (a === "-p" || a === "--n-prompt") o.nPrompt = int("n-prompt");
    else if (a === "-n" || a === "--n-gen") o.nGen = int("n-gen");
    else if (a === "-r" || a === "--repetitions") o.reps = Math.max(1, int("repetitions"));
    else if (a === "--json") o.json = true;
    else if (a === "--fa") o.fa = val();
    else if (a === "-h" || a === "--help") usage(0);
    else {
      process.stderr.write(`error: unknown argument '${a}'\n`);
      usage(2);
    }
  }
  if (!o.model) usage(2);
  if (!["off", "on", "auto"].includes(o.fa)) usage(2);
  if (o.threads === 0) o.threads = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  return o;
}

// Bytes per block and elements per block of the GGML types a Llama GGUF uses.
const TYPE_SIZE = {
  0: [1, 4], // F32
  1: [1, 2], // F16
  2: [32, 18], // Q4_0
  3: [32, 20], // Q4_1
  6: [32, 22], // Q5_0
  7: [32, 24], // Q5_1
  8: [32, 34], // Q8_0
  10: [256, 84], // Q2_K
  11: [256, 110], // Q3_K
  12: [256, 144], // Q4_K
  13: [256, 176], // Q5_K
  14: [256, 210], // Q6_K
  15: [256, 292], // Q8_K
  30: [1, 2], // BF16
};

function tensorBytes(t) {
  const ts = TYPE_SIZE[t.ggmlType];
  if (!ts) return null;
  const n = t.dimensions.reduce((a, d) => a * Number(d), 1);
  return (n / ts[0]) * ts[1];
}

// Weight bytes read per generated token, counted like llmchain's Model::bytes_per_token():
// the seven matrices of every layer plus the output projection (token_embd when tied).
function bytesPerToken(tensors) {
  let total = 0;
  let output = null;
  let embd = null;
  for (const t of tensors) {
    if (/^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/.test(t.name)) {
      const b = tensorBytes(t);
      if (b == null) return null;
      total += b;
    } else if (t.name === "output.weight") output = t;
    else if (t.name === "token_embd.weight") embd = t;
  }
  const out = output ?? embd;
  if (out) {
    const b = tensorBytes(out);
    if (b == null) return null;
    total += b;
  }
  return total;
}

// The ggml CPU backend variant loaded into this process (llama.cpp picks the best one the CPU
// supports among libggml-cpu-*.so): from llama.cpp's "load_backend" log line, else /proc/self/maps.
function cpuBackend(logLines) {
  for (const l of logLines) {
    const m = /loaded CPU backend from (\S+)/.exec(l);
    if (m) return path.basename(m[1]);
  }
  try {
    const maps = fs.readFileSync("/proc/self/maps", "utf8");
    const m = /\S*libggml-cpu[^\s/]*\.so/.exec(maps);
    if (m) return path.basename(m[0]);
  } catch {}
  return null;
}

function stat(v) {
  if (v.length === 0) return { mean: 0, sd: 0 };
  const mean = v.reduce((a, x) => a + x, 0) / v.length;
  const sd = v.length > 1 ? Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / (v.length - 1)) : 0;
  return { mean, sd };
}

const o = parseArgs(process.argv.slice(2));
if (!fs.existsSync(o.model)) {
  process.stderr.write(`error: model '${o.model}' not found\n`);
  process.exit(1);
}

let nlc;
try {
  nlc = await import("node-llama-cpp");
} catch (e) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  process.stderr.write(`error: node-llama-cpp is not installed (run: cd ${here} && npm ci --ignore-scripts --omit=optional)\n${e.message}\n`);
  process.exit(3);
}
const { getLlama, LlamaLogLevel } = nlc;

const logLines = [];
const llama = await getLlama({
  gpu: false,
  build: "never", // prebuilt binaries only: never compile llama.cpp
  skipDownload: true,
  maxThreads: 0, // so that the context's `threads` is exactly the number used
  logLevel: LlamaLogLevel.debug,
  logger: (level, message) => {
    logLines.push(message);
    if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) process.stderr.write(`llama.cpp: ${message}\n`);
  },
});
const model = await llama.loadModel({ modelPath: o.model, gpuLayers: 0 });
const embd = (model.fileInfo.tensorInfo ?? []).find((t) => t.name === "token_embd.weight");
const nVocab = embd ? Number(embd.dimensions[1]) : 256; // random ids only need to be valid
const nCtx = Math.max(o.nPrompt, o.nGen) + 1;
const context = await model.createContext({
  contextSize: nCtx,
  batchSize: Math.max(o.nPrompt, 1),
  threads: o.threads,
  flashAttention: o.fa === "auto" ? "auto" : o.fa === "on",
  sequences: 1,
});
const seq = context.getSequence();

// Deterministic pseudo-random token ids (xorshift32), like llama-bench's random prompt.
let rngState = 42;
function randomToken() {
  rngState ^= rngState << 13;
  rngState >>>= 0;
  rngState ^= rngState >>> 17;
  rngState ^= rngState << 5;
  rngState >>>= 0;
  return rngState % nVocab;
}
const greedy = { temperature: 0 };

// One batch of n tokens; logits (and a greedy pick) for the last one only.
async function runPrompt(n) {
  await seq.clearHistory();
  const tokens = Array.from({ length: n }, randomToken);
  const t0 = process.hrtime.bigint();
  const it = seq.evaluate(tokens, greedy);
  await it.next();
  const t1 = process.hrtime.bigint();
  await it.return();
  return Number(t1 - t0) / 1e9;
}

// n decodes of one token each (the first a random token, then each greedy pick fed back).
async function runGen(n) {
  await seq.clearHistory();
  const t0 = process.hrtime.bigint();
  const it = seq.evaluate([randomToken()], greedy);
  for (let i = 0; i < n; ++i) {
    const r = await it.next();
    if (r.done) throw new Error("generation ended early");
  }
  const t1 = process.hrtime.bigint();
  await it.return();
  return Number(t1 - t0) / 1e9;
}

// Warm-up (as llama-bench): one pp batch and one token.
if (o.nPrompt > 0) await runPrompt(o.nPrompt);
if (o.nGen > 0) await runGen(1);

const pp = [];
const tg = [];
for (let r = 0; r < o.reps; ++r) {
  if (o.nPrompt > 0) pp.push(o.nPrompt / (await runPrompt(o.nPrompt)));
  if (o.nGen > 0) tg.push(o.nGen / (await runGen(o.nGen)));
}

const spp = stat(pp);
const stg = stat(tg);
const gib = model.size / 1024 ** 3;
const bpt = bytesPerToken(model.fileInfo.tensorInfo ?? []);
const backend = cpuBackend(logLines);
const isa = backend ? backend.replace(/^lib/, "").replace(/\.so$/, "") : "ggml-cpu";
const release = llama.llamaCppRelease?.release ?? "?";
const threadsUsed = context.currentThreads ?? o.threads;

if (o.json) {
  const j = {
    engine: "llama.cpp",
    llama_cpp_release: release,
    node_llama_cpp: "3.21.1",
    cpu_backend: backend,
    system_info: llama.systemInfo,
    model: o.model,
    threads: o.threads,
    isa,
    weights_gib: gib,
    flash_attn: o.fa,
    n_prompt: o.nPrompt,
    n_gen: o.nGen,
    repetitions: o.reps,
    pp_tokens_per_s: spp.mean,
    pp_stddev: spp.sd,
    tg_tokens_per_s: stg.mean,
    tg_stddev: stg.sd,
    tg_weight_gb_per_s: bpt == null ? null : (stg.mean * bpt) / 1e9,
  };
  process.stdout.write(JSON.stringify(j) + "\n");
} else {
  process.stdout.write(
    `llama.cpp ${release} via node-llama-cpp 3.21.1, CPU backend ${backend ?? "(unknown)"}, ` +
      `threads ${threadsUsed}, flash-attn ${o.fa}\n`,
  );
  process.stdout.write("| model | size | threads | isa | test | t/s |\n| --- | --- | --- | --- | --- | --- |\n");
  if (o.nPrompt > 0)
    process.stdout.write(
      `| ${o.model} | ${gib.toFixed(2)} GiB | ${o.threads} | ${isa} | pp${o.nPrompt} | ${spp.mean.toFixed(2)} ± ${spp.sd.toFixed(2)} |\n`,
    );
  if (o.nGen > 0) {
    const gbs = bpt == null ? "" : ` (weights read at ${((stg.mean * bpt) / 1e9).toFixed(1)} GB/s)`;
    process.stdout.write(
      `| ${o.model} | ${gib.toFixed(2)} GiB | ${o.threads} | ${isa} | tg${o.nGen} | ${stg.mean.toFixed(2)} ± ${stg.sd.toFixed(2)}${gbs} |\n`,
    );
  }
}
await context.dispose();
await model.dispose();
await llama.dispose();
