// The seeded generator's bulk normal fill against its one-at-a-time definition, and replay from a clone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/util/random.js';

test('fillNormal gives exactly mean + std·normal() drawn one at a time, across odd splits (the spare normal carries over)', () => {
  const cases = [
    { seed: 0, splits: [1], std: 1, mean: 0 },
    { seed: 1, splits: [7, 3, 10, 1, 0, 2], std: 0.3, mean: 1 },
    { seed: 12345, splits: [64, 1, 1, 5, 1000], std: 1 / Math.sqrt(96), mean: 0 },
  ];
  for (const c of cases) {
    const bulk = new Rng(c.seed), single = new Rng(c.seed);
    for (const n of c.splits) {
      const got = new Float32Array(n);
      bulk.fillNormal(got, c.std, c.mean);
      for (let i = 0; i < n; i++) assert.equal(got[i], Math.fround(c.mean + c.std * single.normal()), `seed ${c.seed}, split ${n}, value ${i}`);
    }
    assert.equal(bulk.nextU32(), single.nextU32(), `seed ${c.seed}: the generators end in the same state`);
  }
});

test('a clone replays what the original draws next, and leaves it alone', () => {
  const a = new Rng(9);
  a.fillNormal(new Float32Array(3), 1); // leaves a spare normal
  const b = a.clone();
  const fromA = a.normalArray(11, 2), fromB = b.normalArray(11, 2);
  assert.deepEqual(fromB, fromA);
  assert.notDeepEqual(a.normalArray(4, 1), new Rng(9).normalArray(4, 1));
});
