// The expert-load and balance-loss kernels (src/kernels/ref/balance.ts): counts, and L = α·Σ_i f_i·P_i with its
// gradient in the router logits, on hand-worked tiny cases (sigmoid and softmax scoring) and on seeded random ones
// against test/reference/balance-f64.ts, the gradient by central differences of that float64 transcription.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { f32, fromF32, fromI32 } from '../../src/tensor/tensor.js';
import type { RouterSpec } from '../../src/kernels/backend.js';
import { refRouterScores } from '../reference/deepseek-f64.js';
import { balanceLossF64 } from '../reference/balance-f64.js';
import { random, withBackwards } from './grad-check.js';

const spec = (scoring: 'sigmoid' | 'softmax', E: number, K: number): RouterSpec =>
  ({ scoring, method: scoring === 'sigmoid' ? 'noaux_tc' : 'greedy', nExperts: E, topK: K, nGroup: 1, topkGroup: 1, normTopkProb: true, scalingFactor: 1 });

test('expertCounts adds the slots routed to each expert, and names an index out of range', async () => {
  await withBackwards((bw, heap) => {
    const counts = fromF32(heap, [2, 0, 0, 0], [4]);
    bw.expertCounts(counts, fromI32(heap, [0, 1, 1, 2, 1, 3], [3, 2]), 3, 2, 4);
    assert.deepEqual(Array.from(f32(counts)), [3, 3, 1, 1], `${bw.name}: 2 + [1, 3, 1, 1]`);
    assert.throws(() => bw.expertCounts(counts, fromI32(heap, [0, 4], [1, 2]), 1, 2, 4), /expert index 4 out of range \(0\.\.3\)/);
  });
});

const LN3 = Math.log(3), LN2 = Math.log(2);

const HAND: { name: string; spec: RouterSpec; logits: number[]; experts: number[]; T: number; alpha: number; loss: number; grad: number[] }[] = [
  {
    // σ(ln 3) = .75, σ(0) = .5, σ(−ln 3) = .25; each row's σ sums to 2.
    // row 0: σ = [.75, .5, .25, .5] → s' = [.375, .25, .125, .25], chose 0, 1
    // row 1: σ = [.5, .75, .5, .25] → s' = [.25, .375, .25, .125], chose 1, 2
    // f = E/(K·T)·count = 4/4·[1, 2, 1, 0]; P = mean s' = [.3125, .3125, .1875, .1875]
    // L = .1·(.3125 + .625 + .1875) = .1125.
    // ∂L/∂s'_e = α·f_e/T = [.05, .1, .05, 0]; ∂L/∂z_j = (g_j − Σ_e g_e s'_e)/Σσ · σ_j(1 − σ_j):
    // row 0: Σ g s' = .05, σ(1−σ) = [.1875, .25, .1875, .25] → [0, .05/2·.25, 0, −.05/2·.25] = [0, .00625, 0, −.00625]
    // row 1: Σ g s' = .0625, σ(1−σ) = [.25, .1875, .25, .1875] → [−.0015625, .003515625, −.0015625, −.005859375]
    name: 'sigmoid, E 4, K 2, T 2',
    spec: spec('sigmoid', 4, 2), logits: [LN3, 0, -LN3, 0, 0, LN3, 0, -LN3], experts: [0, 1, 1, 2], T: 2, alpha: 0.1,
    loss: 0.1125, grad: [0, 0.00625, 0, -0.00625, -0.0015625, 0.003515625, -0.0015625, -0.005859375],
  },
  {
    // Row 0 above as a sequence of its own: f = 4/(2·1)·[1, 1, 0, 0] = [2, 2, 0, 0], P = s' = [.375, .25, .125, .25],
    // L = .1·(.75 + .5) = .125 (row 1 alone gives .125 too, so the sequence-wise mean over the two is .125, while the
    // batch-wise loss over both rows is .1125). g = α·f/T = [.2, .2, 0, 0], Σ g s' = .125:
    // ∂L/∂z = [.075/2·.1875, .075/2·.25, −.125/2·.1875, −.125/2·.25] = [.00703125, .009375, −.01171875, −.015625]
    name: 'sigmoid, one row (a one-token sequence)',
    spec: spec('sigmoid', 4, 2), logits: [LN3, 0, -LN3, 0], experts: [0, 1], T: 1, alpha: 0.1,
    loss: 0.125, grad: [0.00703125, 0.009375, -0.01171875, -0.015625],
  },
  {
    // row 0: softmax [ln 2, 0, 0] = [.5, .25, .25], chose 0; row 1: softmax [0, ln 3, 0] = [.2, .6, .2], chose 1
    // f = 3/(1·2)·[1, 1, 0] = [1.5, 1.5, 0]; P = [.35, .425, .225]; L = 1·(.525 + .6375) = 1.1625.
    // g = α·f/T = [.75, .75, 0]; ∂L/∂z_j = s'_j·(g_j − Σ_e g_e s'_e):
    // row 0: Σ = .5625 → [.5·.1875, .25·.1875, .25·(−.5625)] = [.09375, .046875, −.140625]
    // row 1: Σ = .6 → [.2·.15, .6·.15, .2·(−.6)] = [.03, .09, −.12]
    name: 'softmax, E 3, K 1, T 2',
    spec: spec('softmax', 3, 1), logits: [LN2, 0, 0, 0, LN3, 0], experts: [0, 1], T: 2, alpha: 1,
    loss: 1.1625, grad: [0.09375, 0.046875, -0.140625, 0.03, 0.09, -0.12],
  },
];

for (const c of HAND) {
  test(`balanceLoss by hand: ${c.name}`, async () => {
    await withBackwards((bw, heap) => {
      const E = c.spec.nExperts, K = c.spec.topK;
      const logits = fromF32(heap, c.logits, [c.T, E]), experts = fromI32(heap, c.experts, [c.T, K]);
      const before = c.logits.map((_, i) => (i % 3) * 0.5);
      const d = fromF32(heap, before, [c.T, E]);
      const loss = bw.balanceLoss(d, logits, experts, c.spec, c.T, c.alpha, 2);
      assert.ok(Math.abs(loss - c.loss) < 1e-6, `${bw.name}: loss ${loss}, by hand ${c.loss}`);
      // dlogits += dscale·∂L/∂z, dscale 2, onto values already there
      f32(d).forEach((x, i) => assert.ok(Math.abs(x - (before[i] + 2 * c.grad[i])) < 1e-6, `${bw.name}: dlogits[${i}] = ${x}, by hand ${before[i]} + 2·${c.grad[i]}`));
      assert.equal(bw.balanceLoss(null, logits, experts, c.spec, c.T, c.alpha, 0), loss, `${bw.name}: the loss without a gradient`);
    });
  });
}

const RANDOM: { name: string; scoring: 'sigmoid' | 'softmax'; E: number; K: number; T: number; seed: number }[] = [
  { name: 'sigmoid, E 8, K 2, T 5', scoring: 'sigmoid', E: 8, K: 2, T: 5, seed: 3 },
  { name: 'softmax, E 6, K 3, T 4', scoring: 'softmax', E: 6, K: 3, T: 4, seed: 4 },
];

for (const c of RANDOM) {
  test(`balanceLoss and its gradient against float64 (central differences): ${c.name}`, async () => {
    const r = random(c.seed), s = spec(c.scoring, c.E, c.K), alpha = 0.3;
    const z = Array.from({ length: c.T * c.E }, () => Math.fround(r() * 3));
    const chosen = Array.from({ length: c.T }, () => {
      const row: number[] = [];
      while (row.length < c.K) { const e = Math.floor((r() + 1) / 2 * c.E); if (!row.includes(e)) row.push(e); }
      return row;
    });
    const L = (zz: number[]) => balanceLossF64(
      Array.from({ length: c.T }, (_, t) => refRouterScores(zz.slice(t * c.E, (t + 1) * c.E), { n_routed_experts: c.E, num_experts_per_tok: c.K, scoring_func: c.scoring })),
      chosen, alpha);
    const h = 1e-5;
    const fd = z.map((_, i) => { const p = z.slice(), m = z.slice(); p[i] += h; m[i] -= h; return (L(p) - L(m)) / (2 * h); });
    await withBackwards((bw, heap) => {
      const d = fromF32(heap, new Array(z.length).fill(0), [c.T, c.E]);
      const loss = bw.balanceLoss(d, fromF32(heap, z, [c.T, c.E]), fromI32(heap, chosen.flat(), [c.T, c.K]), s, c.T, alpha, 1);
      assert.ok(Math.abs(loss - L(z)) < 1e-6, `${bw.name}: loss ${loss}, float64 ${L(z)}`);
      const scale = Math.max(...fd.map(Math.abs));
      assert.ok(scale > 1e-3, 'the gradient is not vanishing');
      f32(d).forEach((x, i) => assert.ok(Math.abs(x - fd[i]) < 1e-4 * scale, `${bw.name}: ∂L/∂z[${i}] = ${x}, finite difference ${fd[i]}`));
    });
  });
}
