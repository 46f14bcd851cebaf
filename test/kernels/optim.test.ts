// The optimizer kernels (src/kernels/ref/optim.ts) against the float64 AdamW of test/reference/adamw-f64.ts, run for
// four steps so that bias correction and the moments carried between steps both count; the clipping helpers; and
// the auxiliary-loss-free bias update's sign, worked by hand. Every backend's backward kernels are checked (the wasm
// twins must also equal the reference bit for bit: test/kernels/wasm-optim.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { empty, f32, fromF32 } from '../../src/tensor/tensor.js';
import type { AdamWHyper } from '../../src/kernels/backend.js';
import { withBackwards } from './grad-check.js';
import { adamwStateF64, adamwStepF64 } from '../reference/adamw-f64.js';

const W0 = [0.5, -1.25, 2, 0.03, -0.7];
/** Four steps of gradients: sign changes, a zero (the update then runs on the carried moments), very different sizes. */
const GRADS = [
  [0.1, -0.4, 2.0, 0, 0.5],
  [-0.3, -0.2, 1.5, 0.05, 0],
  [0.2, 0.6, -0.5, 0.01, -1],
  [0, -0.1, 0.25, -0.02, 3],
];
/** Gradients of the order of ε = 1e-3, where the place of ε (outside the square root) decides the update. */
const SMALL = GRADS.map((g) => g.map((x) => x * 2e-3));

const PAPER = { lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
const CASES: { name: string; h: Omit<AdamWHyper, 'step'>; grads: number[][]; moments: 'f32' | 'bf16' }[] = [
  { name: 'the paper\'s β 0.9/0.95, decay 0.1', h: PAPER, grads: GRADS, moments: 'f32' },
  { name: 'ε = 1e-3 with gradients near 1e-3 (ε outside √v̂)', h: { ...PAPER, eps: 1e-3 }, grads: SMALL, moments: 'f32' },
  { name: 'no weight decay (norms and biases)', h: { ...PAPER, weightDecay: 0 }, grads: GRADS, moments: 'f32' },
  { name: 'bf16 moments (the FP8 recipe)', h: PAPER, grads: GRADS, moments: 'bf16' },
];

for (const c of CASES) {
  test(`adamw over four steps equals the float64 transcription: ${c.name}`, async () => {
    const ref = adamwStateF64(W0);
    const want = c.grads.map((g) => { adamwStepF64(ref, g, c.h, c.moments === 'bf16'); return ref.w.slice(); });
    await withBackwards((bw, heap) => {
      const n = W0.length;
      const w = fromF32(heap, W0, [n]), m = empty(heap, [n], c.moments), v = empty(heap, [n], c.moments);
      c.grads.forEach((g, s) => {
        const gt = fromF32(heap, g, [n]);
        bw.adamw(w, gt, m, v, n, { ...c.h, step: s + 1 });
        f32(w).forEach((x, i) => {
          // f32 storage of w, m, v moves each step by a few f32 ulps of w; the smallest planted change is ~1e-5.
          assert.ok(Math.abs(x - want[s][i]) <= 1e-6, `${bw.name} step ${s + 1} w[${i}] = ${x}, float64 transcription ${want[s][i]}`);
        });
      });
    });
  });
}

test('sumSquares and scaleInPlace: the global-norm pieces', async () => {
  await withBackwards((bw, heap) => {
    const g = fromF32(heap, [3, -4, 0, 12], [4]);
    assert.equal(bw.sumSquares(g), 169, `${bw.name}: 9 + 16 + 0 + 144`);
    bw.scaleInPlace(g, 0.5);
    assert.deepEqual(Array.from(f32(g)), [1.5, -2, 0, 6], `${bw.name}: halved in place`);
  });
});

// b_i += γ·sign(mean − load_i): an overloaded expert's bias goes DOWN (it gets chosen less), an underloaded one's up,
// one exactly at the mean stays.
const BIAS_CASES: { name: string; bias: number[]; counts: number[]; gamma: number; mode?: 'proportional'; want: number[] }[] = [
  // mean (6 + 2 + 4 + 4)/4 = 4: expert 0 over, 1 under, 2 and 3 at the mean.
  { name: 'from zero', bias: [0, 0, 0, 0], counts: [6, 2, 4, 4], gamma: 0.01, want: [-0.01, 0.01, 0, 0] },
  // mean (1 + 9 + 3 + 3)/4 = 4: expert 1 over (down), 0, 2, 3 under (up); the update adds to the bias there.
  { name: 'onto an existing bias', bias: [0.5, -0.25, 0.125, 0], counts: [1, 9, 3, 3], gamma: 0.001, want: [0.501, -0.251, 0.126, 0.001] },
  { name: 'balanced loads leave it', bias: [0.25, -0.5], counts: [7, 7], gamma: 0.01, want: [0.25, -0.5] },
  // proportional: γ·(mean − load)/mean; mean 4: expert 0 is 50% over (−0.005), 1 is 50% under (+0.005).
  { name: 'proportional', bias: [0, 0, 0, 0.5], counts: [6, 2, 4, 4], gamma: 0.01, mode: 'proportional', want: [-0.005, 0.005, 0, 0.5] },
  // mean 4: expert 1 carries 9 (125% over): −0.00125; expert 0 carries 1 (75% under): +0.00075.
  { name: 'proportional, larger violations', bias: [0, 0, 0, 0], counts: [1, 9, 3, 3], gamma: 0.001, mode: 'proportional', want: [0.00075, -0.00125, 0.00025, 0.00025] },
  { name: 'proportional, nothing routed', bias: [0.25, -0.5], counts: [0, 0], gamma: 0.01, mode: 'proportional', want: [0.25, -0.5] },
];

for (const c of BIAS_CASES) {
  test(`balanceBiasUpdate: ${c.name}`, async () => {
    await withBackwards((bw, heap) => {
      const bias = fromF32(heap, c.bias, [c.bias.length]), counts = fromF32(heap, c.counts, [c.counts.length]);
      bw.balanceBiasUpdate(bias, counts, c.gamma, c.mode);
      f32(bias).forEach((x, e) => assert.ok(Math.abs(x - c.want[e]) < 1e-7, `${bw.name}: bias[${e}] = ${x}, want ${c.want[e]}`));
    });
  });
}
