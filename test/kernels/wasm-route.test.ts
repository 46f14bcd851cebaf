// The fast backend's router against the reference routeTokens: the same experts in the same order and the same f32
// gate weights, bit for bit, for every routing method, with and without bias, on random logits and on logits full
// of ties (quantised values, equal groups), across calls that reuse its buffers with different shapes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { fromF32, empty, f32, i32 } from '../../src/tensor/tensor.js';
import { routeTokens } from '../../src/kernels/ref/route.js';
import { createRouter } from '../../src/kernels/wasm/route.js';
import type { RouterSpec } from '../../src/kernels/backend.js';
import { Rng } from '../../src/util/random.js';

const SPECS: RouterSpec[] = [
  { scoring: 'sigmoid', method: 'noaux_tc', nExperts: 16, topK: 4, nGroup: 4, topkGroup: 2, normTopkProb: true, scalingFactor: 2.5 },
  { scoring: 'sigmoid', method: 'noaux_tc', nExperts: 64, topK: 8, nGroup: 8, topkGroup: 4, normTopkProb: false, scalingFactor: 1.5 },
  { scoring: 'sigmoid', method: 'noaux_tc', nExperts: 8, topK: 1, nGroup: 1, topkGroup: 1, normTopkProb: true, scalingFactor: 1 },
  { scoring: 'softmax', method: 'greedy', nExperts: 16, topK: 6, nGroup: 1, topkGroup: 1, normTopkProb: false, scalingFactor: 1 },
  { scoring: 'softmax', method: 'greedy', nExperts: 16, topK: 1, nGroup: 1, topkGroup: 1, normTopkProb: true, scalingFactor: 16 },
  { scoring: 'softmax', method: 'group_limited_greedy', nExperts: 32, topK: 6, nGroup: 8, topkGroup: 3, normTopkProb: true, scalingFactor: 1 },
];

test('the fast router selects the same experts with the same weights as the reference, ties included', () => {
  const heap = new Heap(1 << 20);
  const route = createRouter();
  const rng = new Rng(5);
  for (const ties of [false, true]) {
    for (const spec of SPECS) {
      for (const withBias of [false, true]) {
        const E = spec.nExperts, K = spec.topK, T = 37;
        // Ties: logits from 3 levels, bias from 2, so equal scores and equal group sums are everywhere.
        const logits = Float32Array.from({ length: T * E }, () => (ties ? (rng.nextU32() % 3) - 1 : rng.normal() * 2));
        const bias = withBias ? Float32Array.from({ length: E }, () => (ties ? (rng.nextU32() % 2) * 0.25 : rng.normal() * 0.1)) : null;
        const want = routeTokens(logits, bias, spec, T);
        const experts = empty(heap, [T, K], 'i32'), weights = empty(heap, [T, K]);
        route(experts, weights, fromF32(heap, logits, [T, E]), bias ? fromF32(heap, bias, [E]) : null, spec, T);
        const what = `${spec.method}/${spec.scoring} E=${E} K=${K} bias=${withBias} ties=${ties}`;
        assert.deepEqual(Array.from(i32(experts)), Array.from(want.experts), `experts, ${what}`);
        assert.deepEqual(Array.from(f32(weights)), Array.from(Float32Array.from(want.weights)), `weights, ${what}`);
      }
    }
  }
});
