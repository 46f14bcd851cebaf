// The optimizer's share of a training step, before and after its kernels moved to wasm: the default `nano` model, f32,
// 2 threads, the default step (batch 16 as two forward/backward passes of 8 × 128 tokens, then the 1/2 gradient
// scaling, the global-norm clipping and AdamW). Each round times one step's two forward/backward passes, then the
// optimizer part with the reference kernels ("before": JS AdamW, Σg², scaling) and with the wasm ones ("after") in
// alternation, from the same gradients (restored before each), so the machine's drift touches both alike; the
// clipping limit sits below the gradients' norm, so every update also scales them. Moments f32 (f32 and bf16
// training) and bf16 (fp8 training). Token ids are random (a timing, not a training run).
// Prints one JSON line and writes bench/results/optim-threadsN.json (N threads).
//   node --import tsx bench/optim-ab.ts [--rounds 15] [--threads 2]

import * as fs from 'node:fs';
import * as os from 'node:os';
import { Heap } from '../src/tensor/heap.js';
import { bytes, type Tensor } from '../src/tensor/tensor.js';
import type { BackwardKernels } from '../src/kernels/backend.js';
import { refBackward } from '../src/kernels/ref/backward.js';
import { createWasmBackend } from '../src/kernels/wasm/backend.js';
import { createWasmBackward } from '../src/kernels/wasm/backward.js';
import { makeContext } from '../src/model/context.js';
import { loadWeights } from '../src/model/weights.js';
import { namedParams, gradsLike, shareMtpEmbeddings, zeroGrads } from '../src/train/grads.js';
import { trainForwardBackward, type LossOptions } from '../src/train/model-train.js';
import { AdamW, DEFAULT_ADAMW } from '../src/train/optimizer.js';
import { freshConfig, freshWeights } from '../src/train/setup.js';
import { DEFAULT_TRAIN } from '../src/train/options.js';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number) => { const i = argv.indexOf(name); return i < 0 ? dflt : Number(argv[i + 1]); };
const rounds = opt('--rounds', 15), threads = opt('--threads', 2);
const o = DEFAULT_TRAIN, micro = o.batch / o.microBatch;

const cfg = freshConfig({ ...o, out: '' }, 4096, 0, 1);  // a fresh nano config; nothing is written
const heap = new Heap(64 << 20);
const weights = loadWeights(cfg, freshWeights(cfg, 0), heap, { arenaBytes: Number.POSITIVE_INFINITY });
const backend = createWasmBackend(heap, { threads });
const wasmBw = createWasmBackward(backend);
/** "before": the wasm backward kernels with the optimizer's three taken from the reference, as until this change. */
const refOptimBw: BackwardKernels = { ...wasmBw, adamw: refBackward.adamw, sumSquares: refBackward.sumSquares, scaleInPlace: refBackward.scaleInPlace };
const ctx = makeContext(cfg, backend, heap);
shareMtpEmbeddings(weights);
const grads = gradsLike(heap, weights);
const params = namedParams(weights, cfg.numHiddenLayers), gparams = namedParams(grads, cfg.numHiddenLayers);
const clip = 1e-3;  // below any real gradient norm: every update scales the gradients too
const optimizers = {
  f32: new AdamW(heap, params, gparams, { ...DEFAULT_ADAMW, clip, momentDtype: 'f32' }),
  bf16: new AdamW(heap, params, gparams, { ...DEFAULT_ADAMW, clip, momentDtype: 'bf16' }),
};
const lossOpts: LossOptions = { mtpWeight: o.mtpWeight, balance: { mode: 'sequence', alpha: o.seqAuxAlpha } };
const elements = params.reduce((a, p) => a + p.w.shape.reduce((x, y) => x * y, 1), 0);

let seed = 1;
const randomTokens = () => Int32Array.from({ length: o.microBatch * (o.seqLen + 1) }, () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % cfg.vocabSize; });

/** One step's forward/backward passes (ms); leaves that step's summed gradients in `grads`. */
function forwardBackward(): number {
  const t0 = performance.now();
  zeroGrads(grads);
  for (let m = 0; m < micro; m++) trainForwardBackward(ctx, wasmBw, weights, grads, randomTokens(), o.microBatch, o.seqLen, lossOpts);
  return performance.now() - t0;
}

const saved: Uint8Array[] = gparams.map((g) => bytes(g.w).slice());
const restore = () => gparams.forEach((g, i) => bytes(g.w).set(saved[i]));
/** The optimizer part of a step (ms), from the saved gradients. */
function optimizerMs(bw: BackwardKernels, adamw: AdamW): number {
  restore();
  const t0 = performance.now();
  for (const g of gparams) bw.scaleInPlace(g.w, 1 / micro);
  adamw.update(bw, 1e-4);
  return performance.now() - t0;
}

const sides = [
  { name: 'before f32 moments', bw: refOptimBw, adamw: optimizers.f32 },
  { name: 'after f32 moments', bw: wasmBw, adamw: optimizers.f32 },
  { name: 'before bf16 moments', bw: refOptimBw, adamw: optimizers.bf16 },
  { name: 'after bf16 moments', bw: wasmBw, adamw: optimizers.bf16 },
];
const fwdBwd: number[] = [], times: number[][] = sides.map(() => []);
for (let r = -3; r < rounds; r++) {  // three warm-up rounds (tier-up)
  const f = forwardBackward();
  saved.forEach((s, i) => s.set(bytes(gparams[i].w)));
  const t = sides.map(() => 0);
  for (let j = 0; j < sides.length; j++) { const i = (r + 3 + j) % sides.length; t[i] = optimizerMs(sides[i].bw, sides[i].adamw); }
  if (r >= 0) { fwdBwd.push(f); t.forEach((x, i) => times[i].push(x)); }
}
await backend.close();

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[(xs.length - 1) >> 1];
const fb = median(fwdBwd);
const results = sides.map((s, i) => {
  const ms = median(times[i]);
  return { side: s.name, optimizerMs: +ms.toFixed(2), shareOfStep: +(ms / (fb + ms)).toFixed(4), nsPerParam: +((ms * 1e6) / elements).toFixed(2) };
});
const speedup = (a: number, b: number) => +median(times[a].map((x, r) => x / times[b][r])).toFixed(2);
const out = {
  machine: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version, date: new Date().toISOString(), loadAverage: os.loadavg()[0],
  preset: o.preset, threads, rounds, params: elements, tokensPerStep: o.batch * o.seqLen, forwardBackwardMs: +fb.toFixed(1), results,
  optimizerSpeedup: { f32Moments: speedup(0, 1), bf16Moments: speedup(2, 3) },
  stepSpeedupF32Moments: +median(fwdBwd.map((f, r) => (f + times[0][r]) / (f + times[1][r]))).toFixed(3),
};
console.log(JSON.stringify(out));
fs.mkdirSync('bench/results', { recursive: true });
fs.writeFileSync(`bench/results/optim-threads${threads}.json`, JSON.stringify(out, null, 2) + '\n');
