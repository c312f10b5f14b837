#!/usr/bin/env node
// Interop with llama.cpp (issue 8): files written by `llmchain quantize` load in llama.cpp, and
// files quantized by llama.cpp load in llmchain; both engines then continue the same prompts the
// same way (greedy, temperature 0).
//
//   node tests/interop/llamacpp_interop.mjs --bin build/apps/llmchain --nlc DIR \
//        [--shared ../shared] [--work DIR] [--n 24] [--threads 1] [--json FILE]
//
// --nlc DIR: a folder whose node_modules holds node-llama-cpp (3.21.1, prebuilt CPU binaries).
//
// Cases:
//   A. stories260K.gguf (F32) -> llmchain quantize -> q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k q4_k_m f16.
//      Its matrices are 64 wide, so the K types fall back to legacy blocks (as llama-quantize does):
//   A2. a random-weight `gen-model --shape tiny` F16 file (rows of 256 and 768) -> q4_k q5_k q6_k q4_k_m,
//      so that real Q4_K / Q5_K / Q6_K blocks written by llmchain are read by llama.cpp.
//   A3. other architectures: random-weight `gen-model --shape tiny --arch qwen2|qwen3|phi3` files
//      (qwen3: per-head Q/K norms, and --head-dim 64, not n_embd / n_head; qwen2: Q/K/V biases; phi3:
//      fused QKV and gate/up matrices, with phi-3's own vocabulary), and mixtures of experts: llama
//      with 4 experts, 2 used (Mixtral's layout) and qwen3moe with 8, 2 used; gemma3 (embedding scale,
//      post-norms, GeGLU, a sliding window of 4 on every other layer with its own RoPE base); in F32,
//      F16 and Q4_K in F32 and llmchain-quantized Q8_0 / Q4_K, each loaded by llama.cpp as that architecture.
//   A4. encoders: bert (mean, cls), nomic-bert and a bert cross-encoder (rank pooling) from random
//      weights: embeddings (cosine >= 0.9999 with llama.cpp's) and rerank scores (within 1e-4).
//   B. ../shared/models/quantized/* and TinyStories-656K-Q8_0.gguf (written by llama.cpp) -> llmchain.
// For each file and prompt: prompt token ids (`llmchain tokenize` vs llama.cpp's tokenizer) and the
// greedy continuation of --n tokens (`llmchain run --temp 0` vs llama.cpp through node-llama-cpp).
//
// Exit status: 0 when every file loads in both engines, every prompt tokenizes identically and every
// continuation agrees on at least its first --min-agree tokens (default 8; small numeric differences
// between two correct engines can flip a near-tie late in a sequence, and such a flip is reported
// with the token index where the texts part); 1 otherwise; 77 (skip) when node-llama-cpp cannot load.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = {
  bin: process.env.LLMCHAIN_BIN ?? path.join(here, "../../build/apps/llmchain"),
  nlc: process.env.LLMCHAIN_INTEROP_NLC ?? here,
  shared: process.env.LLMCHAIN_SHARED_DIR ?? path.join(here, "../../../shared"),
  work: "",
  n: 24,
  threads: 1,
  minAgree: 8,
  json: "",
};
for (let i = 2; i < process.argv.length; ++i) {
  const a = process.argv[i];
  const v = () => process.argv[++i];
  if (a === "--bin") args.bin = v();
  else if (a === "--nlc") args.nlc = v();
  else if (a === "--shared") args.shared = v();
  else if (a === "--work") args.work = v();
  else if (a === "--n") args.n = Number(v());
  else if (a === "--threads") args.threads = Number(v());
  else if (a === "--min-agree") args.minAgree = Number(v());
  else if (a === "--json") args.json = v();
  else {
    console.error(`unknown argument ${a}`);
    process.exit(2);
  }
}
const PROMPTS = ["Once upon a time", "The little dog", "Lily and Tom went to the park. They"];
const QUANT_TYPES = ["q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "q4_k", "q5_k", "q6_k", "q4_k_m", "f16"];
const KQUANT_TYPES = ["q4_k", "q5_k", "q6_k", "q4_k_m"];

const SKIP = 77;
const skip = (why) => {
  console.log(`SKIP: ${why}`);
  process.exit(SKIP);
};

// --- node-llama-cpp from --nlc (it is ESM-only, so resolve its entry point by hand) ---
async function importNlc(dir) {
  const pkgDir = path.join(dir, "node_modules", "node-llama-cpp");
  const pkgFile = path.join(pkgDir, "package.json");
  if (!fs.existsSync(pkgFile)) return null;
  const pkg = JSON.parse(fs.readFileSync(pkgFile, "utf8"));
  let entry = pkg.exports?.["."]?.import ?? pkg.exports?.["."]?.default ?? pkg.exports?.["."] ?? pkg.main;
  if (typeof entry === "object") entry = entry.default;
  const mod = await import(pathToFileURL(path.join(pkgDir, entry ?? "dist/index.js")).href);
  return { mod, version: pkg.version };
}

if (!fs.existsSync(args.bin)) skip(`llmchain binary ${args.bin} not found`);
const stories = path.join(args.shared, "models", "stories260K.gguf");
if (!fs.existsSync(stories)) skip(`${stories} not found`);
const nlc = await importNlc(args.nlc).catch((e) => skip(`node-llama-cpp does not load: ${e.message}`));
if (!nlc) skip(`node-llama-cpp not installed under ${args.nlc}/node_modules`);
const { getLlama, LlamaLogLevel } = nlc.mod;

const work = args.work || fs.mkdtempSync(path.join(os.tmpdir(), "llmchain-interop-"));
fs.mkdirSync(work, { recursive: true });

let llama;
const llamaLog = [];
try {
  llama = await getLlama({
    gpu: false,
    build: "never",
    skipDownload: true,
    maxThreads: 0,
    logLevel: LlamaLogLevel.warn,
    logger: (level, msg) => llamaLog.push(`[${level}] ${msg}`),
  });
} catch (e) {
  skip(`no usable prebuilt llama.cpp binary: ${e.message}`);
}
console.log(`llama.cpp ${llama.llamaCppRelease?.release ?? "?"} via node-llama-cpp ${nlc.version}; llmchain ${args.bin}`);

function llmchain(argv, opts = {}) {
  return execFileSync(args.bin, argv, {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 300_000,
    maxBuffer: 64 << 20,
    ...opts,
  });
}

// stdout: the continuation only; stderr ends with "[prompt: ... | generated: N tokens ...]".
function llmchainRunFull(model, prompt) {
  const p = spawnSync(
    args.bin,
    ["run", "-m", model, "-p", prompt, "-n", String(args.n), "--temp", "0", "-t", String(args.threads)],
    { encoding: "utf8", timeout: 300_000, maxBuffer: 64 << 20 },
  );
  if (p.status !== 0) {
    return { text: "", generated: null, error: `exit ${p.status}: ${(p.stderr || "").trim().split("\n").slice(-3).join(" / ")}` };
  }
  const m = /generated: (\d+) tokens/.exec(p.stderr || "");
  return { text: p.stdout, generated: m ? Number(m[1]) : null, error: null };
}

function llmchainTokenize(model, prompt) {
  return JSON.parse(llmchain(["tokenize", "-m", model, prompt]));
}

function tensorTypes(fileInfo) {
  const counts = {};
  for (const t of fileInfo.tensorInfo ?? []) {
    if (t.dimensions.length < 2) continue; // norms stay F32
    const name = typeName(t.ggmlType);
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return Object.entries(counts)
    .map(([k, v]) => `${k}×${v}`)
    .join(" ");
}
const TYPE_NAMES = { 0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 30: "BF16" };
const typeName = (t) => TYPE_NAMES[t] ?? `type${t}`;

// Greedy continuation with llama.cpp: returns generated ids, the continuation text, and the text
// after each prefix of the ids (to find where a mismatch starts).
async function llamaGreedy(model, context, prompt) {
  const seq = context.getSequence();
  try {
    const promptIds = model.tokenize(prompt, true);
    if (model.tokens.shouldPrependBosToken && model.tokens.bos != null) promptIds.unshift(model.tokens.bos);
    const ids = [];
    for await (const t of seq.evaluate(promptIds, { temperature: 0 })) {
      if (model.isEogToken(t)) break;
      ids.push(t);
      if (ids.length >= args.n) break;
    }
    const prefixText = (k) => model.detokenize(ids.slice(0, k), false, promptIds);
    return { promptIds, ids, text: prefixText(ids.length), prefixText };
  } finally {
    seq.dispose();
  }
}

function firstDivergence(llamaRes, text) {
  // Number of leading llama.cpp tokens whose text is a prefix of llmchain's text.
  let k = 0;
  while (k < llamaRes.ids.length && text.startsWith(llamaRes.prefixText(k + 1))) ++k;
  return k;
}

// Random-weight files (A2) have nearly flat logits: on tiny-q5_k the top three tokens of a step
// lie within 0.01 nats (measured with logprobs), so two correct engines whose dot products
// round differently part within a few tokens. What A2 checks is that llama.cpp reads the
// K-quant blocks llmchain writes, which the first tokens already show (a misread block gives
// another text from the first token); trained models (A, B) keep the full --min-agree.
function minAgreeFor(group) {
  return group === "A2" || group === "A3" ? Math.min(args.minAgree, 4) : args.minAgree;
}

const results = [];
async function compareFile(group, file, note) {
  const row = { group, file: path.basename(file), note, types: "", loadLlama: true, prompts: [], ok: true, problems: [] };
  results.push(row);
  let model, context;
  try {
    model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
    context = await model.createContext({ contextSize: 256, batchSize: 256, threads: args.threads, sequences: 1 });
  } catch (e) {
    row.loadLlama = false;
    row.ok = false;
    row.problems.push(`llama.cpp failed to load: ${e.message}`);
    console.log(`${group} ${row.file}: llama.cpp FAILED to load: ${e.message}`);
    return;
  }
  row.types = tensorTypes(model.fileInfo);
  try {
    for (const prompt of PROMPTS) {
      const L = await llamaGreedy(model, context, prompt);
      const p = { prompt, llamaIds: L.ids, llamaText: L.text };
      row.prompts.push(p);
      try {
        p.llmchainPromptIds = llmchainTokenize(file, prompt);
      } catch (e) {
        p.llmchainPromptIds = null;
        row.problems.push(`llmchain tokenize failed: ${(e.stderr || e.message).toString().trim()}`);
      }
      p.promptIdsEqual = JSON.stringify(p.llmchainPromptIds) === JSON.stringify(L.promptIds);
      if (!p.promptIdsEqual) row.problems.push(`prompt "${prompt}": ids differ: llama.cpp ${JSON.stringify(L.promptIds)} llmchain ${JSON.stringify(p.llmchainPromptIds)}`);
      const R = llmchainRunFull(file, prompt);
      p.llmchainText = R.text;
      p.llmchainGenerated = R.generated;
      if (R.error) {
        row.problems.push(`llmchain run failed: ${R.error}`);
        p.agree = 0;
        continue;
      }
      p.equal = R.text === L.text && (R.generated == null || R.generated === L.ids.length);
      p.agree = p.equal ? L.ids.length : firstDivergence(L, R.text);
      if (!p.equal) {
        const ok = p.agree >= Math.min(minAgreeFor(group), L.ids.length);
        row.problems.push(
          `prompt "${prompt}": continuations part after ${p.agree} of ${L.ids.length} tokens` +
            `${ok ? " (late flip, tolerated)" : ""}\n      llama.cpp: ${JSON.stringify(L.text)}\n      llmchain:  ${JSON.stringify(R.text)}`,
        );
      }
    }
  } finally {
    await context.dispose();
    await model.dispose();
  }
  row.ok =
    row.loadLlama &&
    row.prompts.every((p) => p.promptIdsEqual && p.agree >= Math.min(minAgreeFor(group), p.llamaIds.length) && p.llmchainText !== undefined) &&
    !row.problems.some((m) => m.startsWith("llmchain run failed") || m.startsWith("llmchain tokenize failed"));
  const exact = row.prompts.filter((p) => p.equal).length;
  console.log(
    `${row.ok ? "ok  " : "FAIL"} ${group} ${row.file}${note ? ` (${note})` : ""} [${row.types}]: ` +
      `${exact}/${row.prompts.length} continuations identical` +
      (exact < row.prompts.length ? `; agree on ${row.prompts.map((p) => `${p.agree}/${p.llamaIds.length}`).join(", ")} tokens` : ""),
  );
  for (const m of row.problems) console.log(`     ${m}`);
}

// A. stories260K quantized by llmchain.
for (const t of QUANT_TYPES) {
  const out = path.join(work, `stories260K-${t}.gguf`);
  try {
    llmchain(["quantize", stories, out, t, "-t", String(args.threads)]);
  } catch (e) {
    results.push({ group: "A", file: path.basename(out), ok: false, problems: [`llmchain quantize failed: ${e.stderr || e.message}`], prompts: [] });
    console.log(`FAIL A ${path.basename(out)}: llmchain quantize failed: ${(e.stderr || e.message).toString().trim()}`);
    continue;
  }
  await compareFile("A", out, `llmchain quantize ${t}`);
}

// A2. Real K-quant blocks: a random-weight F16 file with 256-multiple rows, quantized by llmchain.
const vocab = path.join(args.shared, "testdata", "tokenizer", "ggml-vocab-llama-spm.gguf");
if (fs.existsSync(vocab)) {
  const f16 = path.join(work, "tiny-f16.gguf");
  try {
    if (!fs.existsSync(f16)) llmchain(["gen-model", "--shape", "tiny", "--type", "f16", "--vocab", vocab, "-o", f16, "--seed", "7", "-t", String(args.threads)]);
    for (const t of KQUANT_TYPES) {
      const out = path.join(work, `tiny-${t}.gguf`);
      llmchain(["quantize", f16, out, t, "-t", String(args.threads)]);
      await compareFile("A2", out, `random tiny, llmchain quantize ${t}`);
    }
  } catch (e) {
    results.push({ group: "A2", file: "tiny", ok: false, problems: [`${e.stderr || e.message}`], prompts: [] });
    console.log(`FAIL A2: ${(e.stderr || e.message).toString().trim()}`);
  }
} else {
  console.log(`note: ${vocab} not found: K-quant blocks (case A2) not checked`);
}

// A3. Architectures beyond llama, from random weights.
if (fs.existsSync(vocab)) {
  const phi3Vocab = path.join(args.shared, "testdata", "tokenizer", "ggml-vocab-phi-3.gguf");
  const archArgs = {
    qwen3: ["--arch", "qwen3", "--head-dim", "64"],
    qwen2: ["--arch", "qwen2"],
    phi3: ["--arch", "phi3"],
    mixtral: ["--arch", "llama", "--experts", "4", "--experts-used", "2"],
    qwen3moe: ["--arch", "qwen3", "--head-dim", "64", "--experts", "8", "--experts-used", "2", "--expert-ff", "256"],
    gemma2: ["--arch", "gemma2", "--head-dim", "64", "--swa", "4", "--attn-softcap", "0.1", "--final-softcap", "0.5"],
    gemma3: ["--arch", "gemma3", "--head-dim", "64", "--swa", "4", "--swa-pattern", "2"],
  };
  for (const arch of Object.keys(archArgs)) {
    try {
      const f32 = path.join(work, `tiny-${arch}-f32.gguf`);
      llmchain(["gen-model", "--shape", "tiny", ...archArgs[arch], "--type", "f32",
        "--vocab", arch === "phi3" && fs.existsSync(phi3Vocab) ? phi3Vocab : vocab, "-o", f32,
        "--seed", "11", "-t", String(args.threads)]);
      await compareFile("A3", f32, `random tiny ${arch}, F32`);
      // F16 and Q4_K (Q8_0 is checked on real weights in A and B; on these near-flat random
      // logits the one-ulp differences of llama.cpp's SIMD activation rounding flip near-ties early).
      for (const t of ["f16", "q4_k"]) {
        const out = path.join(work, `tiny-${arch}-${t}.gguf`);
        llmchain(["quantize", f32, out, t, "-t", String(args.threads)]);
        await compareFile("A3", out, `random tiny ${arch}, llmchain quantize ${t}`);
      }
    } catch (e) {
      results.push({ group: "A3", file: arch, ok: false, problems: [`${e.stderr || e.message}`], prompts: [] });
      console.log(`FAIL A3 ${arch}: ${(e.stderr || e.message).toString().trim()}`);
    }
  }
}

// A4. Encoders (bert with mean / cls pooling, nomic-bert, a bert cross-encoder), random weights
// with bge's WordPiece vocabulary, F32, F16 and Q8_0 (packed kernels): the embedding of each text (cosine with llama.cpp's
// >= 0.9999) and each document's rerank score (llama.cpp through node-llama-cpp gives
// sigmoid(score); equal within 1e-4).
const bge = path.join(args.shared, "testdata", "tokenizer", "ggml-vocab-bert-bge.gguf");
const TEXTS = ["Hello world, this is a test.", "The quick brown fox jumps over the lazy dog", "a", "Lily and Tom went to the park."];
async function compareEncoder(file, note) {
  const row = { group: "A4", file: path.basename(file), note, prompts: [], ok: true, problems: [] };
  results.push(row);
  let model, ctx;
  try {
    model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
    const rank = note.includes("rank");
    ctx = rank
      ? await model.createRankingContext({ contextSize: 512, threads: args.threads })
      : await model.createEmbeddingContext({ contextSize: 512, threads: args.threads });
    const figures = [];
    if (rank) {
      const docs = TEXTS.slice(1).concat(TEXTS[0]);
      const out = JSON.parse(llmchain(["rerank", "-m", file, "-q", TEXTS[0], ...docs, "-t", String(args.threads)]));
      for (const r of out.results) {
        const ref = await ctx.rank(TEXTS[0], docs[r.index]);
        const mine = 1 / (1 + Math.exp(-r.relevance_score));
        figures.push(Math.abs(mine - ref));
        if (!(Math.abs(mine - ref) <= 1e-4)) row.problems.push(`document ${r.index}: sigmoid(score) ${mine} vs llama.cpp ${ref}`);
      }
    } else {
      const out = JSON.parse(llmchain(["embed", "-m", file, ...TEXTS, "-t", String(args.threads)]));
      for (let i = 0; i < TEXTS.length; ++i) {
        const ref = (await ctx.getEmbeddingFor(TEXTS[i])).vector;
        const mine = out.data[i].embedding;
        let dot = 0, na = 0, nb = 0;
        for (let d = 0; d < ref.length; ++d) { dot += ref[d] * mine[d]; na += ref[d] ** 2; nb += mine[d] ** 2; }
        const cos = dot / Math.sqrt(na * nb);
        figures.push(cos);
        if (ref.length !== mine.length || !(cos >= 0.9999)) row.problems.push(`"${TEXTS[i]}": cosine ${cos} (${mine.length} vs ${ref.length} dims)`);
      }
    }
    row.ok = row.problems.length === 0;
    console.log(`${row.ok ? "ok  " : "FAIL"} A4 ${row.file} (${note}): ${rank ? "max |Δ sigmoid(score)|" : "1 - min cosine"} ` +
      `${(rank ? Math.max(...figures) : 1 - Math.min(...figures)).toExponential(2)}`);
  } catch (e) {
    row.ok = false;
    row.problems.push(`${e.stderr || e.message}`);
    console.log(`FAIL A4 ${row.file}: ${(e.stderr || e.message).toString().trim()}`);
  } finally {
    await ctx?.dispose();
    await model?.dispose();
  }
  for (const m of row.problems) console.log(`     ${m}`);
}
if (fs.existsSync(bge)) {
  const encoders = {
    "bert-mean": ["--arch", "bert", "--pooling", "mean"],
    "bert-cls": ["--arch", "bert", "--pooling", "cls"],
    "nomic-bert-mean": ["--arch", "nomic-bert", "--pooling", "mean"],
    "bert-rank": ["--arch", "bert", "--pooling", "rank"],
  };
  for (const [name, a] of Object.entries(encoders)) {
    for (const t of name.endsWith("rank") ? ["f32"] : ["f32", "f16", "q8_0"]) {
      const f = path.join(work, `tiny-${name}-${t}.gguf`);
      try {
        llmchain(["gen-model", "--shape", "tiny", ...a, "--type", t, "--vocab", bge, "-o", f, "--seed", "5", "-t", String(args.threads)]);
      } catch (e) {
        results.push({ group: "A4", file: name, ok: false, problems: [`${e.stderr || e.message}`], prompts: [] });
        continue;
      }
      await compareEncoder(f, `random tiny ${name}, ${t.toUpperCase()}`);
    }
  }
}

// B. Files quantized by llama.cpp, read by llmchain.
const byLlama = [];
const qdir = path.join(args.shared, "models", "quantized");
if (fs.existsSync(qdir)) for (const f of fs.readdirSync(qdir).sort()) if (f.endsWith(".gguf")) byLlama.push(path.join(qdir, f));
const q8 = path.join(args.shared, "models", "TinyStories-656K-Q8_0.gguf");
if (fs.existsSync(q8)) byLlama.push(q8);
for (const f of byLlama) await compareFile("B", f, "quantized by llama.cpp");

await llama.dispose();
if (args.json) fs.writeFileSync(args.json, JSON.stringify(results, null, 2));
const failed = results.filter((r) => !r.ok);
const flips = results.flatMap((r) => (r.prompts ?? []).filter((p) => p.equal === false).map((p) => `${r.file}: "${p.prompt}" @${p.agree}`));
console.log(
  `\n${results.length - failed.length}/${results.length} files pass` +
    (flips.length ? `; continuations that part (token index where they part): ${flips.join("; ")}` : "; every continuation identical"),
);
if (!args.work) fs.rmSync(work, { recursive: true, force: true });
process.exit(failed.length ? 1 : 0);
