// Expert loads recorded from a model's routing, and the numbers made of them: MaxVio, KL divergence, specialization.
// A model whose MoE layers are each forced (by a large selection bias) onto known experts shows exactly those loads,
// layer by layer; the statistics are checked against hand-worked values.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Heap } from '../../src/tensor/heap.js';
import { f32 } from '../../src/tensor/tensor.js';
import { loadWeights } from '../../src/model/weights.js';
import { makeContext } from '../../src/model/context.js';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { parseConfig } from '../../src/model/config.js';
import { presetConfig } from '../../src/model/presets.js';
import { refBackend } from '../../src/kernels/ref/index.js';
import { freshWeights } from '../../src/train/setup.js';
import { expertLoads, maxViolation, klDivergence, specialization, relativeLoad } from '../../src/experiment/routing.js';

test('expertLoads counts every routed slot of every window in the layer that routed it', () => {
  // tiny with 3 layers: layer 0 dense, layers 1 and 2 MoE (8 experts, top-2, 4 groups of 2, 2 groups kept).
  const cfg = parseConfig({ ...presetConfig('tiny'), num_hidden_layers: 3 }, 'tiny, 3 layers');
  const heap = new Heap(16 << 20);
  const weights = loadWeights(cfg, freshWeights(cfg, 1), heap);
  const model = new DeepSeekModel(makeContext(cfg, refBackend, heap), weights);
  // A bias of 100 wins the selection whatever the scores: layer 1 takes experts 2 and 3 (one group), layer 2 takes
  // 4 and 6 (two groups, each group's score being the sum of its top two).
  const force = (layer: number, experts: number[]) => {
    const ffn = weights.layers[layer]!.ffn;
    if (ffn.kind !== 'moe') throw new Error('not an MoE layer');
    const b = f32(ffn.moe.bias!);
    b.fill(0);
    for (const e of experts) b[e] = 100;
  };
  force(1, [2, 3]);
  force(2, [4, 6]);
  const windows = [[1, 5, 9, 13, 17], [2, 4, 6]];
  const loads = expertLoads(model, windows);
  assert.equal(loads.length, 2, 'one row per MoE layer');
  const slots = 8 * 2; // 8 tokens, top-2
  assert.deepEqual(Array.from(loads[0]!), [0, 0, slots / 2, slots / 2, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(loads[1]!), [0, 0, 0, 0, slots / 2, 0, slots / 2, 0]);
  // The model itself still routes with its own backend (the recording twin shares only the weights).
  assert.equal(model.ctx.backend, refBackend);
});

test('MaxVio, KL divergence, relative load and specialization, by hand', () => {
  // loads 6, 2, 4, 4: mean 4, max 6 → (6 − 4)/4 = 0.5
  assert.equal(maxViolation([6, 2, 4, 4]), 0.5);
  assert.equal(maxViolation([3, 3, 3]), 0);
  assert.equal(maxViolation([0, 0]), 0);
  assert.deepEqual(relativeLoad([6, 2, 4, 4]), [1.5, 0.5, 1, 1]);
  // KL([3, 1] ‖ [1, 1]) = 0.75·ln 1.5 + 0.25·ln 0.5; counts are normalised first.
  assert.ok(Math.abs(klDivergence([3, 1], [5, 5]) - (0.75 * Math.log(1.5) + 0.25 * Math.log(0.5))) < 1e-12);
  assert.equal(klDivergence([2, 0], [1, 1]), Math.log(2), '0·log 0 = 0');
  // Two genres, one layer: loads [3, 1] and [1, 3]; overall [4, 4]: each KL is 0.75·ln 1.5 + 0.25·ln 0.5.
  const each = 0.75 * Math.log(1.5) + 0.25 * Math.log(0.5);
  const one = specialization([[Float64Array.from([3, 1])], [Float64Array.from([1, 3])]]);
  assert.ok(Math.abs(one - each) < 1e-12, `${one}`);
  // A second layer where both genres route alike contributes 0: the mean over layers halves it.
  const two = specialization([[Float64Array.from([3, 1]), Float64Array.from([2, 2])], [Float64Array.from([1, 3]), Float64Array.from([5, 5])]]);
  assert.ok(Math.abs(two - each / 2) < 1e-12, `${two}`);
});
