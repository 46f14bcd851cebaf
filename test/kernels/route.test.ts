// routeTokens (the reference MoE router) against hand-worked tables: each case gives router logits, the bias, the
// spec, and the experts and gate weights expected, derived in the comments from sigmoid/softmax by Math.exp.
// Leaves out: the backend wrapper `route` (tensors in, tensors out) and the model's use of the weights.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { routeTokens, topKIndices } from '../../src/kernels/ref/route.js';
import type { RouterSpec } from '../../src/kernels/backend.js';

const sig = (z: number): number => 1 / (1 + Math.exp(-z));
const softmax = (z: number[]): number[] => {
  const m = Math.max(...z), e = z.map((v) => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const normalised = (w: number[], scale: number): number[] => {
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((v) => (v / (sum + 1e-20)) * scale);
};

const v3 = (over: Partial<RouterSpec> = {}): RouterSpec => ({
  scoring: 'sigmoid', method: 'noaux_tc', nExperts: 4, topK: 2, nGroup: 1, topkGroup: 1,
  normTopkProb: true, scalingFactor: 2.5, ...over,
});
const v2 = (over: Partial<RouterSpec> = {}): RouterSpec => ({
  scoring: 'softmax', method: 'greedy', nExperts: 4, topK: 2, nGroup: 1, topkGroup: 1,
  normTopkProb: false, scalingFactor: 1, ...over,
});

interface Case {
  name: string;
  spec: RouterSpec;
  logits: number[];      // [T, E]
  bias: number[] | null; // [E]
  experts: number[];     // [T, K], in selection order (best first)
  weights: number[];     // [T, K]
}

// Shared logits for the V3 cases: s = σ([2, 1, 0.5, -1]) = [0.8808, 0.7311, 0.6225, 0.2689].
const Z4 = [2, 1, 0.5, -1];
const S4 = Z4.map(sig);

// Group case (8 experts, 4 groups of 2, keep 2 groups, top-2):
//   z = [3, -3 | 1, 0.9 | 0.5, 0.8 | -2, -1]
//   s = [.9526, .0474 | .7311, .7109 | .6225, .6900 | .1192, .2689]
//   group score = sum of its top-2: [1.0000, 1.4420, 1.3125, 0.3881] -> keep groups 1 and 2
//   expert 0 (s .9526, the best overall) is in the weak group 0 and is excluded; top-2 = 2, 3.
//   (A max-per-group rule would keep groups 0 and 1 and pick 0, 2.)
const Z8 = [3, -3, 1, 0.9, 0.5, 0.8, -2, -1];
const S8 = Z8.map(sig);

// V2 group_limited_greedy case (softmax over all 8, group score = max):
//   z = [2, -5 | 1.9, 1.8 | 1.85, 1.85 | -1, -1]
//   max per group: [2, 1.9, 1.85, -1] -> keep groups 0, 1 -> top-2 = 0 (2.0), 2 (1.9)
//   (a top-2-sum rule would give e^2+e^-5 = 7.40 < e^1.9+e^1.8 = 12.74, e^1.85·2 = 12.72 -> groups 1, 2 -> experts 2, 4)
const ZG = [2, -5, 1.9, 1.8, 1.85, 1.85, -1, -1];
const PG = softmax(ZG);

const CASES: Case[] = [
  {
    name: 'V3 without bias: top-2 by sigmoid score, weights normalised × 2.5',
    spec: v3(), logits: Z4, bias: null,
    experts: [0, 1], weights: normalised([S4[0], S4[1]], 2.5),
  },
  {
    // c = s + bias = [0.8808, 0.7311, 0.8225, 0.2689] -> top-2 = 0, 2; weights from the UNBIASED s.
    name: 'V3: bias changes the selection, weights stay the unbiased scores',
    spec: v3(), logits: Z4, bias: [0, 0, 0.2, 0],
    experts: [0, 2], weights: normalised([S4[0], S4[2]], 2.5),
  },
  {
    // c = [-0.1192, 0.7311, 0.6225, 0.2689]: a negative bias drops the best-scoring expert.
    name: 'V3: a negative bias removes the best expert',
    spec: v3(), logits: Z4, bias: [-1, 0, 0, 0],
    experts: [1, 2], weights: normalised([S4[1], S4[2]], 2.5),
  },
  {
    name: 'V3 norm_topk_prob false, scale 1: weights are the raw sigmoid scores',
    spec: v3({ normTopkProb: false, scalingFactor: 1 }), logits: Z4, bias: [0, 0, 0.2, 0],
    experts: [0, 2], weights: [S4[0], S4[2]],
  },
  {
    name: 'V3 norm_topk_prob false, scale 2.5: raw scores × 2.5',
    spec: v3({ normTopkProb: false }), logits: Z4, bias: null,
    experts: [0, 1], weights: [S4[0] * 2.5, S4[1] * 2.5],
  },
  {
    name: 'V3 norm_topk_prob true, scale 1: weights sum to 1',
    spec: v3({ scalingFactor: 1 }), logits: Z4, bias: null,
    experts: [0, 1], weights: normalised([S4[0], S4[1]], 1),
  },
  {
    // noaux_tc normalises even a single expert (HF has no top_k > 1 condition for V3): weight = 2.5.
    name: 'V3 top-1 with norm_topk_prob: weight = routed_scaling_factor',
    spec: v3({ topK: 1 }), logits: Z4, bias: null,
    experts: [0], weights: [2.5],
  },
  {
    name: 'V3 group limiting: a strong expert in a weak group is excluded',
    spec: v3({ nExperts: 8, nGroup: 4, topkGroup: 2, normTopkProb: false, scalingFactor: 1 }), logits: Z8, bias: null,
    experts: [2, 3], weights: [S8[2], S8[3]],
  },
  {
    name: 'V3 group limiting off (topk_group = n_group): the strong expert wins',
    spec: v3({ nExperts: 8, nGroup: 4, topkGroup: 4, normTopkProb: false, scalingFactor: 1 }), logits: Z8, bias: null,
    experts: [0, 2], weights: [S8[0], S8[2]],
  },
  {
    // bias +0.5 on expert 1: group 0 = .9526 + .5474 = 1.5000 > 1.4420 -> keep groups 0, 1; c = [.9526, .5474, .7311, .7109]
    // -> top-2 = 0, 2; weights unbiased.
    name: 'V3 group scores use the biased c',
    spec: v3({ nExperts: 8, nGroup: 4, topkGroup: 2, normTopkProb: true, scalingFactor: 2.5 }), logits: Z8,
    bias: [0, 0.5, 0, 0, 0, 0, 0, 0],
    experts: [0, 2], weights: normalised([S8[0], S8[2]], 2.5),
  },
  {
    name: 'ties between experts: the lower index wins',
    spec: v3(), logits: [0, 1, 1, 1], bias: null,
    experts: [1, 2], weights: [1.25, 1.25],
  },
  {
    // groups {0,1} and {2,3} both score 2σ(0.3) (sum) -> group 0 kept; inside it experts 0, 1 tie -> 0 first.
    name: 'ties between groups: the lower group wins',
    spec: v3({ nGroup: 2, topkGroup: 1, topK: 1 }), logits: [0.3, 0.3, 0.3, 0.3], bias: null,
    experts: [0], weights: [2.5],
  },
  {
    // softmax([1, 2, 0, 3]): top-2 = 3, 1; V2-Lite (norm false, scale 1): weights are the softmax probabilities.
    name: 'V2 softmax greedy, norm_topk_prob false: softmax probabilities',
    spec: v2(), logits: [1, 2, 0, 3], bias: null,
    experts: [3, 1], weights: [softmax([1, 2, 0, 3])[3], softmax([1, 2, 0, 3])[1]],
  },
  {
    // DeepSeek-V2 rule: not normalised -> scaled by routed_scaling_factor (16 in DeepSeek-V2).
    name: 'V2 softmax greedy, norm false: × routed_scaling_factor',
    spec: v2({ scalingFactor: 16 }), logits: [1, 2, 0, 3], bias: null,
    experts: [3, 1], weights: [softmax([1, 2, 0, 3])[3] * 16, softmax([1, 2, 0, 3])[1] * 16],
  },
  {
    // DeepSeek-V2 rule: normalised when norm_topk_prob and K > 1, and then NOT scaled.
    name: 'V2 softmax greedy, norm true: normalised, no scaling',
    spec: v2({ normTopkProb: true, scalingFactor: 16 }), logits: [1, 2, 0, 3], bias: null,
    experts: [3, 1], weights: normalised([softmax([1, 2, 0, 3])[3], softmax([1, 2, 0, 3])[1]], 1),
  },
  {
    // greedy ignores n_group/topk_group: expert 0 (logit 3) is picked although its group would lose on max.
    name: 'V2 greedy ignores groups',
    spec: v2({ nExperts: 8, nGroup: 4, topkGroup: 1, topK: 1 }), logits: Z8, bias: null,
    experts: [0], weights: [softmax(Z8)[0]],
  },
  {
    name: 'V2 group_limited_greedy: group score = max, softmax over all experts',
    spec: v2({ method: 'group_limited_greedy', nExperts: 8, nGroup: 4, topkGroup: 2 }), logits: ZG, bias: null,
    experts: [0, 2], weights: [PG[0], PG[2]],
  },
  {
    // keep only the best group by max (group 0): experts 0 (2.0) then 1 (-5).
    name: 'V2 group_limited_greedy with one kept group',
    spec: v2({ method: 'group_limited_greedy', nExperts: 8, nGroup: 4, topkGroup: 1 }), logits: ZG, bias: null,
    experts: [0, 1], weights: [PG[0], PG[1]],
  },
  {
    // two tokens routed independently: the first as 'V3: bias changes the selection', the second with z reversed
    // (s = [.2689, .6225, .7311, .8808], c = [.2689, .6225, .9311, .8808] -> 2, 3).
    name: 'T = 2: each token routed on its own row',
    spec: v3(), logits: [...Z4, ...[...Z4].reverse()], bias: [0, 0, 0.2, 0],
    experts: [0, 2, 2, 3], weights: [...normalised([S4[0], S4[2]], 2.5), ...normalised([S4[1], S4[0]], 2.5)],
  },
];

for (const c of CASES) {
  test(`routeTokens: ${c.name}`, () => {
    const T = c.logits.length / c.spec.nExperts;
    const r = routeTokens(Float32Array.from(c.logits), c.bias && Float32Array.from(c.bias), c.spec, T);
    assert.deepEqual(Array.from(r.experts), c.experts);
    assert.equal(r.weights.length, c.weights.length);
    // the logits go in as float32, so the expected values (from the float64 logits) agree to ~1e-7
    c.weights.forEach((w, i) => assert.ok(Math.abs(r.weights[i] - w) < 1e-6, `weight ${i}: got ${r.weights[i]}, expected ${w}`));
  });
}

test('routeTokens: hand-computed literals for the group and V2 cases', () => {
  // guards the helper arithmetic above with numbers worked out once by hand
  const g = routeTokens(Z8, null, v3({ nExperts: 8, nGroup: 4, topkGroup: 2, normTopkProb: true, scalingFactor: 2.5 }), 1);
  assert.deepEqual(Array.from(g.experts), [2, 3]);
  // σ(1) = 0.7310586, σ(0.9) = 0.7109495 -> 2.5·[0.7310586, 0.7109495]/1.4420081 = [1.2674315, 1.2325685]
  assert.ok(Math.abs(g.weights[0] - 1.2674315) < 1e-6 && Math.abs(g.weights[1] - 1.2325685) < 1e-6, `${Array.from(g.weights)}`);
  const v = routeTokens([1, 2, 0, 3], null, v2(), 1);
  // softmax([1,2,0,3]) = [0.0871443, 0.2368828, 0.0320586, 0.6439143]
  assert.ok(Math.abs(v.weights[0] - 0.6439143) < 1e-6 && Math.abs(v.weights[1] - 0.2368828) < 1e-6, `${Array.from(v.weights)}`);
});

test('topKIndices: descending, equal values in index order', () => {
  const table: { values: number[]; k: number; want: number[] }[] = [
    { values: [0.1, 0.9, 0.5], k: 2, want: [1, 2] },
    { values: [3, 3, 3], k: 2, want: [0, 1] },
    { values: [1, 2, 2, 0], k: 3, want: [1, 2, 0] },
    { values: [-1, -2], k: 2, want: [0, 1] },
  ];
  for (const { values, k, want } of table) assert.deepEqual(topKIndices(values, k), want, JSON.stringify(values));
});
