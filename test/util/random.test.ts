// The seeded generator's bulk normal fill against its one-at-a-time definition, replay from a clone, and jumps
// ahead against drawing every number on the way.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, Xoshiro128Jump } from '../../src/util/random.js';

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

const JUMP = new Xoshiro128Jump();

test('a jump of d draws lands where d nextU32() calls do', () => {
  for (const d of [0, 1, 2, 3, 31, 32, 33, 1000, 65537, 1_000_003]) {
    const walked = new Rng(d + 1), jumped = new Rng(d + 1);
    for (let i = 0; i < d; i++) walked.nextU32();
    const s = jumped.snapshot().s;
    JUMP.advance(s, d);
    const landed = new Rng(0);
    landed['s'].set(s); // the state words only; no normal is pending after whole draws
    assert.deepEqual([landed.nextU32(), landed.nextU32()], [walked.nextU32(), walked.nextU32()], `d = ${d}`);
  }
});

test('skipNormals(n) leaves the generator where n normal() calls do, with or without a pending sin', () => {
  for (const [before, n] of [[0, 1], [0, 2], [1, 1], [1, 2], [3, 1000], [2, 99_999], [5, 0]] as const) {
    const walked = new Rng(7), skipped = new Rng(7);
    for (let i = 0; i < before; i++) { walked.normal(); skipped.normal(); }
    for (let i = 0; i < n; i++) walked.normal();
    skipped.skipNormals(n, JUMP);
    assert.deepEqual(skipped.normalArray(3, 1), walked.normalArray(3, 1), `${before} drawn, then ${n} skipped`);
  }
});
