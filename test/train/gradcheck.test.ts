// The training forward/backward against the independent float64 reference: for every parameter tensor, the
// directional derivative of the loss (main cross-entropy + λ·MTP cross-entropy + every MoE layer's balance loss,
// sequence-wise in one case and batch-wise in the other) along a random direction, by central finite differences of
// the float64 reference model, equals Σ grad·direction from trainForwardBackward.
// This checks the training forward (it must define the same function as the HF semantics) and every backward,
// on the reference kernels and on the wasm kernels with two threads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { initCheckpoint, type InitOptions } from '../../src/model/init.js';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { f32 } from '../../src/tensor/tensor.js';
import { backwardFor } from '../../src/kernels/select.js';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../../src/weights/safetensors.js';
import { namedParams, gradsLike, shareMtpEmbeddings, zeroGrads } from '../../src/train/grads.js';
import { trainForwardBackward } from '../../src/train/model-train.js';
import type { BalanceOptions } from '../../src/train/ffn-train.js';
import { loadRefModel, refForward } from '../reference/deepseek-f64.js';
import { balanceLossF64 } from '../reference/balance-f64.js';
import { Rng } from '../../src/util/random.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qiusuo-gradcheck-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

const LAMBDA = 0.3;

function readAll(file: string): TensorToWrite[] {
  const f = SafetensorsFile.open(file);
  try {
    return [...f.entries.values()].map((e) => {
      const data = new Uint8Array(e.byteLength);
      f.readInto(e.name, data);
      return { name: e.name, dtype: e.dtype, shape: e.shape, data };
    });
  } finally { f.close(); }
}

/** Mean CE of rows against targets, in float64. */
function ce(logits: number[][], targets: number[]): number {
  let sum = 0;
  logits.forEach((row, i) => {
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
    sum += lse - row[targets[i]];
  });
  return sum;
}

/**
 * The objective in float64 by the reference: mean main CE + λ·mean MTP CE over the batch, plus for every MoE layer
 * (the MTP one too) the balance loss: sequence-wise, the mean over sequences of each one's loss; batch-wise, the
 * loss over all the batch's rows.
 */
function refLoss(dir: string, seqs: number[][], balance: BalanceOptions): number {
  const m = loadRefModel(dir);
  let main = 0, mtp = 0, nMain = 0, nMtp = 0;
  const layers = new Map<string, { scores: number[][][]; indices: number[][][] }>(); // per MoE layer, per sequence
  for (const sq of seqs) {
    const T = sq.length - 1;
    const r = refForward(m, sq.slice(0, T), { mtp: true });
    main += ce(r.logits, sq.slice(1)); nMain += T;
    mtp += ce(r.mtpLogits!, sq.slice(2)); nMtp += T - 1;
    for (const l of r.routing) {
      const acc = layers.get(l.prefix) ?? { scores: [], indices: [] };
      acc.scores.push(l.scores); acc.indices.push(l.indices);
      layers.set(l.prefix, acc);
    }
  }
  let bal = 0;
  for (const l of layers.values()) {
    if (balance.mode === 'sequence') l.scores.forEach((s, i) => { bal += balanceLossF64(s, l.indices[i], balance.alpha) / seqs.length; });
    else if (balance.mode === 'batch') bal += balanceLossF64(l.scores.flat(), l.indices.flat(), balance.alpha);
  }
  return main / nMain + LAMBDA * mtp / nMtp + bal;
}

// α is far above the paper's 1e-4 so that the balance loss's share of the router gradient is well above the check's
// tolerance (a wrong sign or scale there fails).
const CASES: { name: string; opts: Omit<InitOptions, 'out'>; balance: BalanceOptions }[] = [
  {
    name: 'q_lora, MoE with groups, YaRN, MTP, sequence-wise balance loss',
    opts: { preset: 'tiny', seed: 21, set: { vocab_size: 300 } }, balance: { mode: 'sequence', alpha: 0.5 },
  },
  {
    name: 'q_proj, no YaRN, norm_topk_prob false, 2 shared experts, batch-wise balance loss',
    opts: { preset: 'tiny', seed: 22, set: { vocab_size: 300, q_lora_rank: null, rope_scaling: null, norm_topk_prob: false, n_shared_experts: 2 } },
    balance: { mode: 'batch', alpha: 0.5 },
  },
];

for (const c of CASES) for (const kernels of ['ref', 'wasm'] as const) {
  test(`every parameter's gradient matches float64 finite differences of the reference (${kernels} kernels): ${c.name}`, async () => {
    const dir = path.join(tmp, `${kernels}-${c.name.replace(/[^a-z0-9]+/gi, '-')}`);
    initCheckpoint({ ...c.opts, out: dir, omitMtpCopies: true });
    const model = DeepSeekModel.load(dir, { kernels, threads: 2 });
    const bw = backwardFor(model.ctx.backend);
    try {
      shareMtpEmbeddings(model.weights);
      const cfg = model.cfg, B = 2, T = 6, rng = new Rng(5);
      const seqs = Array.from({ length: B }, () => Array.from({ length: T + 1 }, () => rng.nextU32() % cfg.vocabSize));
      const g = gradsLike(model.ctx.heap, model.weights);
      zeroGrads(g);
      const r = trainForwardBackward(model.ctx, bw, model.weights, g, Int32Array.from(seqs.flat()), B, T,
        { mtpWeight: LAMBDA, balance: c.balance });
      const base = refLoss(dir, seqs, c.balance);
      assert.ok(Math.abs(r.loss - base) < 1e-4, `training forward loss ${r.loss} vs reference ${base}`);

      const params = namedParams(model.weights, cfg.numHiddenLayers);
      const grads = namedParams(g, cfg.numHiddenLayers);
      const original = readAll(path.join(dir, 'model.safetensors'));
      const fdDir = path.join(dir, 'fd');
      fs.mkdirSync(fdDir);
      fs.copyFileSync(path.join(dir, 'config.json'), path.join(fdDir, 'config.json'));
      const h = 1e-4;
      params.forEach((p, i) => {
        const w = f32(p.w).slice(), gr = f32(grads[i].w);
        const v = Float64Array.from(w, () => rng.normal());
        const plus = Float32Array.from(w, (x, j) => x + h * v[j]), minus = Float32Array.from(w, (x, j) => x - h * v[j]);
        const lossAt = (patched: Float32Array) => {
          const tensors = original.map((t) => (t.name === p.name ? { ...t, data: new Uint8Array(patched.buffer) } : t));
          assert.ok(tensors.some((t) => t.name === p.name), `${p.name} is in the checkpoint`);
          writeSafetensors(path.join(fdDir, 'model.safetensors'), tensors);
          return refLoss(fdDir, seqs, c.balance);
        };
        // The weights are f32, so the step actually taken is plus − minus (f32 rounding moves it by up to 1e-3
        // relative for weights near 1): compare the loss difference with the gradient along that exact step.
        let analytic = 0;
        for (let j = 0; j < w.length; j++) analytic += gr[j] * (plus[j] - minus[j]);
        const fd = lossAt(plus) - lossAt(minus);
        const tol = 2e-3 * Math.abs(fd) + 2e-9;
        assert.ok(Math.abs(fd - analytic) <= tol, `${p.name}: analytic ${analytic}, finite difference ${fd}`);
      });
    } finally {
      await model.dispose();
    }
  });
}
