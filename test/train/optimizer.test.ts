// The AdamW optimizer of training (src/train/optimizer.ts) over three steps against the float64 AdamW of
// test/reference/adamw-f64.ts: global-norm clipping (a norm above the limit whose per-tensor norms are below it, one
// under it, a large one), weight decay only where a parameter asks for it, and which parameters of a real model ask.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { f32, fromF32, numel } from '../../src/tensor/tensor.js';
import { refBackward } from '../../src/kernels/ref/backward.js';
import { AdamW, DEFAULT_ADAMW, type AdamWOptions } from '../../src/train/optimizer.js';
import { namedParams, type NamedParam } from '../../src/train/grads.js';
import { DEFAULT_TRAIN } from '../../src/train/options.js';
import { freshConfig, freshWeights } from '../../src/train/setup.js';
import { loadWeights } from '../../src/model/weights.js';
import { adamwStateF64, adamwStepF64 } from '../reference/adamw-f64.js';

/** A weight matrix (decays), a norm weight and a bias (neither decays). */
const PARAMS: { name: string; w0: number[]; shape: number[]; decay: boolean }[] = [
  { name: 'proj.weight', w0: [0.5, -0.25, 1.5, 0.75], shape: [2, 2], decay: true },
  { name: 'norm.weight', w0: [1, 1, 1], shape: [3], decay: false },
  { name: 'proj.bias', w0: [0.2, -0.4], shape: [2], decay: false },
];

/** Gradients per step, per parameter, with their global norm worked out by hand. */
const STEPS: { grads: number[][]; norm: number }[] = [
  // Σg² = (.25 + .25 + .09 + .01) + (.16 + .04 + .16) + .36 = 1.32: every tensor's norm is under 1, the global one above.
  { grads: [[0.5, -0.5, 0.3, 0.1], [0.4, -0.2, 0.4], [0.6, 0]], norm: Math.sqrt(1.32) },
  // Σg² = (.01 + .04 + .01) + (.0025 + .0025) + (.01 + .09) = .165: under the limit, untouched.
  { grads: [[0.1, 0.2, -0.1, 0], [0.05, 0, -0.05], [0.1, 0.3]], norm: Math.sqrt(0.165) },
  // Σg² = (9 + 1 + 4) + (4 + 1) + 16 = 35.
  { grads: [[3, -1, 0, 2], [-2, 1, 0], [0, 4]], norm: Math.sqrt(35) },
];

const LR = [0.01, 0.02, 0.005]; // a different rate each step, as the schedule gives

const CASES: { name: string; o: AdamWOptions }[] = [
  { name: 'the paper\'s settings (clip 1.0)', o: DEFAULT_ADAMW },
  { name: 'clip 2.0 (only the third step is clipped)', o: { ...DEFAULT_ADAMW, clip: 2 } },
  { name: 'clipping off (clip 0)', o: { ...DEFAULT_ADAMW, clip: 0 } },
  { name: 'ε 1e-2 (clipping changes the update through ε)', o: { ...DEFAULT_ADAMW, eps: 1e-2 } },
];

test('the defaults are the paper\'s: β 0.9/0.95, weight decay 0.1, clip at global norm 1.0, and the trainer\'s match', () => {
  assert.deepEqual({ ...DEFAULT_ADAMW }, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clip: 1.0, momentDtype: 'f32' });
  const t = DEFAULT_TRAIN;
  assert.deepEqual([t.beta1, t.beta2, t.weightDecay, t.clip], [0.9, 0.95, 0.1, 1.0]);
});

for (const c of CASES) {
  test(`AdamW.update over three steps equals clipping + AdamW in float64: ${c.name}`, () => {
    const heap = new Heap(1 << 16);
    const params: NamedParam[] = PARAMS.map((p) => ({ name: p.name, w: fromF32(heap, p.w0, p.shape), decay: p.decay }));
    const grads: NamedParam[] = PARAMS.map((p) => ({ name: p.name, w: fromF32(heap, new Array(numel(p.shape)).fill(0), p.shape), decay: p.decay }));
    const opt = new AdamW(heap, params, grads, c.o);
    const ref = PARAMS.map((p) => adamwStateF64(p.w0));
    STEPS.forEach((s, k) => {
      grads.forEach((g, i) => f32(g.w).set(s.grads[i]));
      const norm = opt.update(refBackward, LR[k]);
      assert.ok(Math.abs(norm - s.norm) < 1e-6, `step ${k + 1}: pre-clip global norm ${norm}, by hand ${s.norm}`);
      const scale = c.o.clip > 0 && s.norm > c.o.clip ? c.o.clip / s.norm : 1;
      PARAMS.forEach((p, i) => {
        const clipped = s.grads[i].map((x) => x * scale);
        f32(grads[i].w).forEach((x, j) => assert.ok(Math.abs(x - clipped[j]) < 1e-6, `step ${k + 1} ${p.name}: clipped gradient ${x}, want ${clipped[j]}`));
        adamwStepF64(ref[i], clipped, { lr: LR[k], beta1: c.o.beta1, beta2: c.o.beta2, eps: c.o.eps, weightDecay: p.decay ? c.o.weightDecay : 0 });
        f32(params[i].w).forEach((x, j) => {
          assert.ok(Math.abs(x - ref[i].w[j]) <= 1e-6, `step ${k + 1} ${p.name}[${j}] = ${x}, float64 ${ref[i].w[j]}`);
        });
      });
    });
    assert.equal(opt.step, 3, 'three updates counted (bias correction runs on this count)');
  });
}

test('a non-finite gradient norm skips the step: no weight, moment or step count changes', () => {
  const heap = new Heap(1 << 16);
  const params: NamedParam[] = [{ name: 'w', w: fromF32(heap, [1, 2], [2]), decay: true }];
  const grads: NamedParam[] = [{ name: 'w', w: fromF32(heap, [NaN, 1], [2]), decay: true }];
  const opt = new AdamW(heap, params, grads, DEFAULT_ADAMW);
  assert.ok(Number.isNaN(opt.update(refBackward, 0.01)), 'the norm is reported as NaN');
  assert.deepEqual([Array.from(f32(params[0].w)), Array.from(f32(opt.m[0])), Array.from(f32(opt.v[0])), opt.step], [[1, 2], [0, 0], [0, 0], 0]);
});

test('of a real model, exactly the norm weights skip decay (the 1-D parameters); the router bias is not trained', () => {
  const o = { ...DEFAULT_TRAIN, out: '', preset: 'tiny', set: { vocab_size: 300 } };
  for (const set of [{}, { q_lora_rank: null, tie_word_embeddings: true }]) {
    const cfg = freshConfig({ ...o, set: { ...o.set, ...set } }, 300, 0, 1);
    const heap = new Heap(8 << 20);
    const params = namedParams(loadWeights(cfg, freshWeights(cfg, 3), heap), cfg.numHiddenLayers);
    const norms = params.filter((p) => /norm\.weight$/.test(p.name)).map((p) => p.name);
    // per layer (2 main + 1 MTP): input, post-attention, kv_a (+ q_a with q_lora); model.norm; MTP enorm, hnorm, shared_head.norm
    assert.equal(norms.length, 3 * (cfg.qLoraRank ? 4 : 3) + 1 + 3, `norm weights found: ${norms.join(', ')}`);
    for (const p of params) {
      const isNorm = /norm\.weight$/.test(p.name);
      assert.equal(p.decay, !isNorm, `${p.name}: decay ${p.decay}`);
      assert.equal(p.w.shape.length === 1, isNorm, `${p.name}: shape [${p.w.shape}]`);
      assert.ok(!/bias/.test(p.name), `${p.name}: the router's correction bias is moved by balancing, not by AdamW`);
    }
  }
});
