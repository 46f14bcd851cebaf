// The router and routed-expert backwards against central finite differences on tiny odd shapes.
// Router: dlogits of L = Σ dweights ⊙ weights(logits) at a fixed selection, for V3 (sigmoid, noaux_tc, groups,
// bias, with and without norm_topk_prob) and V2 (softmax, greedy and group-limited); every perturbation is checked
// not to change the selection. MoE: dx, dweights and every entry of every expert's gate/up/down.
// Leaves out the shared experts (a dense SwiGLU: matmul and siluMul backwards, tested in backward-ops.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { empty, f32, fromF32, fromI32 } from '../../src/tensor/tensor.js';
import type { ExpertBank, RouterSpec } from '../../src/kernels/backend.js';
import { routeTokens } from '../../src/kernels/ref/route.js';
import { moe } from '../../src/kernels/ref/moe.js';
import { refBackward as B } from '../../src/kernels/ref/backward.js';

import { random, tensorMakers, checkGrad } from './grad-check.js';

const heap = new Heap(1 << 20);

const { rand, zeros } = tensorMakers(heap);

/** Largest |a − b| and the entry where it occurs, next to the largest |a| or |b| (the scale). */
function compare(a: ArrayLike<number>, b: ArrayLike<number>): { worst: number; at: number; scale: number } {
  let worst = 0, at = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i]), Math.abs(b[i]));
    if (Math.abs(a[i] - b[i]) > worst) { worst = Math.abs(a[i] - b[i]); at = i; }
  }
  return { worst, at, scale };
}

// ---- Router
// routeTokens computes in float64 from the logits we give it, so the finite differences are taken in float64 with
// h = 1e-6: truncation ≈ h²·|w'''| ≈ 1e-12 and rounding ≈ 1e-16/h ≈ 1e-10. The analytic gradient is stored f32
// (≈ 6e-8 relative), so 1e-5 of the largest entry is a bound ~100× above the noise; a missing normalisation term,
// scaling factor or sigmoid/softmax derivative factor is an O(1) relative error.

interface RouterCase { name: string; spec: RouterSpec; T: number; bias: boolean; zeroGradient?: boolean }
const v3 = (over: Partial<RouterSpec>): RouterSpec => ({
  scoring: 'sigmoid', method: 'noaux_tc', nExperts: 8, topK: 3, nGroup: 4, topkGroup: 2, normTopkProb: true, scalingFactor: 2.5, ...over,
});
const v2 = (over: Partial<RouterSpec>): RouterSpec => ({
  scoring: 'softmax', method: 'greedy', nExperts: 6, topK: 2, nGroup: 1, topkGroup: 1, normTopkProb: false, scalingFactor: 16, ...over,
});
const ROUTER_CASES: RouterCase[] = [
  { name: 'V3: sigmoid, groups 4/2, top-3, bias, normalised × 2.5', spec: v3({}), T: 3, bias: true },
  { name: 'V3: norm_topk_prob false, × 2.5 (no coupling between chosen experts)', spec: v3({ nExperts: 7, nGroup: 1, topkGroup: 1, topK: 2, normTopkProb: false }), T: 3, bias: true },
  { name: 'V3: top-1 normalised, the weight is the constant 2.5 → zero gradient', spec: v3({ topK: 1 }), T: 2, bias: true, zeroGradient: true },
  { name: 'V2: softmax greedy, not normalised, × 16 (every logit gets a gradient)', spec: v2({}), T: 3, bias: false },
  { name: 'V2: softmax greedy top-3, normalised (no scaling)', spec: v2({ topK: 3, normTopkProb: true }), T: 2, bias: false },
  { name: 'V2: softmax group_limited_greedy 4/2', spec: v2({ method: 'group_limited_greedy', nExperts: 8, nGroup: 4, topkGroup: 2, scalingFactor: 1 }), T: 3, bias: false },
];

for (const c of ROUTER_CASES) {
  test(`routeBackward: ${c.name}`, () => {
    const r = random(c.name.length * 7 + 1);
    const { nExperts: E, topK: K } = c.spec, T = c.T;
    const z = Float64Array.from({ length: T * E }, () => Math.fround(r() * 2));
    const bias = c.bias ? Float64Array.from({ length: E }, () => Math.fround(r() * 0.3)) : null;
    const dw = Float64Array.from({ length: T * K }, () => Math.fround(r()));
    const base = routeTokens(z, bias, c.spec, T);
    const L = (): number => {
      const w = routeTokens(z, bias, c.spec, T);
      assert.deepEqual(Array.from(w.experts), Array.from(base.experts), 'a perturbation changed the selection; use a smaller h');
      let s = 0;
      for (let i = 0; i < T * K; i++) s += dw[i] * w.weights[i];
      return s;
    };
    const h = 1e-6;
    const fd = new Float64Array(T * E);
    for (let i = 0; i < T * E; i++) {
      const z0 = z[i];
      z[i] = z0 + h; const lp = L();
      z[i] = z0 - h; const lm = L();
      z[i] = z0;
      fd[i] = (lp - lm) / (2 * h);
    }
    const dlogits = zeros([T, E]);
    const run = () => B.routeBackward(dlogits, fromF32(heap, dw, [T, K]), fromF32(heap, z, [T, E]), fromI32(heap, base.experts, [T, K]), c.spec, T);
    run();
    const an = f32(dlogits);
    const { worst, at, scale } = compare(an, fd);
    if (c.zeroGradient) {
      assert.ok(scale < 1e-6, `expected a zero gradient, got scale ${scale}`);
      return;
    }
    assert.ok(scale > 1e-2, `the gradient is (near) zero everywhere (scale ${scale}): the check would be vacuous`);
    assert.ok(worst <= 1e-5 * scale, `entry ${at}: analytic ${an[at]} vs finite difference ${fd[at]} (scale ${scale})`);
    // which logits move: sigmoid only the chosen experts'; softmax every one, unless the weights are renormalised
    // over the chosen experts (then w_k = exp(z_k)/Σ_chosen exp(z_j) and the shared denominator cancels)
    const coupled = c.spec.scoring === 'softmax' && !(c.spec.normTopkProb && K > 1);
    for (let t = 0; t < T; t++) {
      const chosen = new Set(Array.from(base.experts.subarray(t * K, t * K + K)));
      for (let e = 0; e < E; e++) {
        if (chosen.has(e)) continue;
        if (coupled) assert.ok(Math.abs(an[t * E + e]) > 1e-6, `softmax: unchosen expert ${e} of token ${t} gets a gradient`);
        else assert.ok(Math.abs(an[t * E + e]) < 1e-7 * scale, `unchosen expert ${e} of token ${t} gets no gradient (${an[t * E + e]})`);
      }
    }
    // += contract
    const once = an.slice();
    run();
    f32(dlogits).forEach((v, i) => assert.ok(Math.abs(v - 2 * once[i]) <= 1e-6 * (1 + Math.abs(v)), `entry ${i}: ${v} after two calls, expected 2 × ${once[i]}`));
  });
}

test('routeBackward: an expert index outside 0..E-1 is an error', () => {
  const spec = v2({});
  assert.throws(() => B.routeBackward(zeros([1, 6]), zeros([1, 2]), zeros([1, 6]), fromI32(heap, [0, 6], [1, 2]), spec, 1), /expert index 6/);
});

// ---- MoE
// The forward (ref moe) stores f32 at every stage (gate/up, SiLU·mul, down, sum); central differences at h = 1e-2
// with the step actually stored in f32 err by ≈ h²/6·|L'''| ≈ 2e-5 plus ≈ (outputs touched ≤ T·D = 25)·u/(2h) ≈ 1e-4
// of rounding. 2e-3 of the largest entry is above that by > 10×; a missing gate weight, a dropped up·silu' term or a
// dweights off by an expert's output are O(1) relative errors.

test('moeBackward: dx, dweights and every expert weight against finite differences (T 5, D 5, I 3, E 5, K 2; expert 4 unused)', () => {
  const r = random(99);
  const T = 5, D = 5, I = 3, E = 5, K = 2;
  const ex = [0, 2, 1, 3, 2, 0, 3, 1, 2, 1]; // each token two distinct experts of 0..3; 2 and 1 serve three tokens
  const experts = fromI32(heap, ex, [T, K]);
  const weights = fromF32(heap, Array.from({ length: T * K }, () => 0.6 + 0.4 * r()), [T, K]);
  const x = rand(r, [T, D], 1.5), dout = rand(r, [T, D]);
  const bank: ExpertBank = {
    gate: Array.from({ length: E }, () => rand(r, [I, D], 0.8)),
    up: Array.from({ length: E }, () => rand(r, [I, D], 0.8)),
    down: Array.from({ length: E }, () => rand(r, [D, I], 0.8)),
  };
  const dbank: ExpertBank = {
    gate: Array.from({ length: E }, () => zeros([I, D])),
    up: Array.from({ length: E }, () => zeros([I, D])),
    down: Array.from({ length: E }, () => zeros([D, I])),
  };
  const out = zeros([T, D]);
  const L = (): number => {
    moe(out, x, experts, weights, bank, T, D, I, K);
    const o = f32(out), g = f32(dout);
    let s = 0;
    for (let i = 0; i < T * D; i++) s += o[i] * g[i];
    return s;
  };
  const dx = zeros([T, D]), dweights = zeros([T, K]);
  const run = () => B.moeBackward(dx, dweights, dbank, dout, x, experts, weights, bank, T, D, I, K);
  run();

  const check = (what: string, input: Tensor, analytic: Tensor): void => checkGrad(what, input, analytic, L);
  check('dx', x, dx);
  check('dweights', weights, dweights);
  for (let e = 0; e < 4; e++) {
    check(`dgate[${e}]`, bank.gate[e], dbank.gate[e]);
    check(`dup[${e}]`, bank.up[e], dbank.up[e]);
    check(`ddown[${e}]`, bank.down[e], dbank.down[e]);
  }
  for (const part of ['gate', 'up', 'down'] as const) {
    assert.ok(f32(dbank[part][4]).every((v) => v === 0), `unused expert 4 gets no ${part} gradient`);
  }

  // += contract over every gradient
  const grads = [dx, dweights, ...dbank.gate, ...dbank.up, ...dbank.down];
  const once = grads.map((t) => f32(t).slice());
  run();
  grads.forEach((t, gi) => f32(t).forEach((v, i) => assert.ok(Math.abs(v - 2 * once[gi][i]) <= 1e-6 * (1 + Math.abs(v)),
    `gradient ${gi} entry ${i}: ${v} after two calls, expected 2 × ${once[gi][i]}`)));
});

test('moeBackward: a dbank of the wrong length or dtype is refused', () => {
  const one = { gate: [zeros([1, 1])], up: [zeros([1, 1])], down: [zeros([1, 1])] };
  const two = { gate: [zeros([1, 1]), zeros([1, 1])], up: [zeros([1, 1]), zeros([1, 1])], down: [zeros([1, 1]), zeros([1, 1])] };
  const args = [zeros([1, 1]), fromI32(heap, [0], [1, 1]), fromF32(heap, [1], [1, 1])] as const;
  assert.throws(() => B.moeBackward(zeros([1, 1]), zeros([1, 1]), one, zeros([1, 1]), ...args, two, 1, 1, 1, 1), /dbank holds 1\/1\/1/);
  const bf = { ...two, up: [zeros([1, 1]), empty(heap, [1, 1], 'bf16')] };
  assert.throws(() => B.moeBackward(zeros([1, 1]), zeros([1, 1]), bf, zeros([1, 1]), ...args, two, 1, 1, 1, 1), /dbank\.up\[1\] must be f32/);
});
