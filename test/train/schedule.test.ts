// The learning-rate and batch-size schedules, worked by hand.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { learningRate, defaultLrSchedule, batchSize } from '../../src/train/schedule.js';
import { mtpWeightAt } from '../../src/train/options.js';

test('LR: linear warmup, constant, cosine decay to minRatio·peak, then the tail', () => {
  const s = { peak: 1, warmupSteps: 4, decayStart: 10, decayEnd: 20, minRatio: 0.1 };
  const table: [number, number][] = [
    [0, 0.25], [1, 0.5], [3, 1],            // warmup: (step + 1)/4
    [4, 1], [9, 1],                         // constant
    [10, 1], [15, 0.1 + 0.9 * 0.5], [20, 0.1], // cosine: halfway is the midpoint of peak and floor
    // p = (step − 10)/10; lr = 0.1 + 0.45·(1 + cos πp): cos 0.2π = 0.809016994 → 0.914057647,
    // cos 0.9π = −0.951056516 → 0.122024568 (a straight line would give 0.82 and 0.19)
    [12, 0.914057647], [19, 0.122024568],
    [25, 0.1], [1000, 0.1],                 // tail
  ];
  for (const [step, lr] of table) assert.ok(Math.abs(learningRate(s, step) - lr) < 1e-9, `step ${step}: ${learningRate(s, step)} vs ${lr}`);
  const d = defaultLrSchedule(3e-3, 100);
  assert.deepEqual([d.warmupSteps, d.decayStart, d.decayEnd, d.minRatio], [5, 60, 90, 0.1], 'default shape: 5% warmup, constant to 60%, decay to 90%');
});

test('batch-size ramp: linear from start to full over rampSteps, then full', () => {
  const r = { start: 4, full: 16, rampSteps: 6 };
  assert.deepEqual([0, 1, 3, 5, 6, 100].map((s) => batchSize(r, s)), [4, 6, 10, 14, 16, 16], 'ramp values');
  assert.equal(batchSize({ start: 4, full: 16, rampSteps: 0 }, 0), 16, 'no ramp');
});

test('MTP λ: the early weight until 10/14.8 of the run (the paper\'s 10T of 14.8T tokens), then the late one', () => {
  const o = { mtpWeight: 0.3, mtpWeightLate: 0.1 };
  // 100 steps: the switch is at round(67.57) = 68.
  assert.deepEqual([0, 67, 68, 99].map((s) => mtpWeightAt(o, s, 100)), [0.3, 0.3, 0.1, 0.1]);
  // 300 steps: round(202.7) = 203.
  assert.deepEqual([202, 203].map((s) => mtpWeightAt(o, s, 300)), [0.3, 0.1]);
  // A run whose length is not known yet (a time budget before its third step) keeps the early weight.
  assert.equal(mtpWeightAt(o, 5000, 0), 0.3);
});
