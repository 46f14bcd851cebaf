// Differences across seeds are paired by seed: arms of one seed share data, tokenizer, initialisation and data order,
// so a small difference that repeats on every seed is evidence even when the seeds themselves differ far more.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { armValue, beats, compare, pairedDifference, show } from '../../src/experiment/seeds.js';
import type { ArmRecord } from '../../src/experiment/arm.js';

const rec = (arm: string, seed: number, val_loss: number) => ({ arm, seed, budget: 'equal-steps', val_loss }) as unknown as ArmRecord;
const loss = (r: ArmRecord) => r.val_loss;

test('a difference that repeats on every seed holds although the seeds spread far wider', () => {
  // Seeds land at 5.0, 5.1, 5.3; arm b is 0.01 lower on each, give or take 0.001.
  const rs = [rec('a', 0, 5.0), rec('a', 1, 5.1), rec('a', 2, 5.3), rec('b', 0, 4.99), rec('b', 1, 5.091), rec('b', 2, 5.289)];
  const a = armValue(rs, 'a', loss), b = armValue(rs, 'b', loss);
  assert.ok(a!.sd! > 0.15, 'the seeds spread by ~0.15');
  const d = pairedDifference(a, b)!;
  assert.ok(Math.abs(d.mean + 0.01) < 1e-9 && d.sd! < 0.002, `paired Δ ${d.mean} ± ${d.sd}`);
  assert.equal(beats(b, a), true);
  assert.equal(beats(a, b), false);
  assert.equal(compare(a, b), '5.133 → 5.123 (Δ −0.010 ± 0.001 over 3 seeds, paired by seed)');
  assert.equal(show(a), '5.133 ± 0.153');
});

test('a difference whose sign changes between seeds is inconclusive; one seed decides by sign; missing arms give null', () => {
  const rs = [rec('a', 0, 5.0), rec('a', 1, 5.1), rec('b', 0, 4.98), rec('b', 1, 5.12)];
  assert.equal(beats(armValue(rs, 'b', loss), armValue(rs, 'a', loss)), null);
  const one = [rec('a', 0, 5.0), rec('b', 0, 4.999)];
  assert.equal(beats(armValue(one, 'b', loss), armValue(one, 'a', loss)), true);
  assert.equal(compare(armValue(one, 'a', loss), armValue(one, 'b', loss)), '5.000 → 4.999 (Δ −0.001, one seed, no spread)');
  assert.equal(beats(armValue(one, 'c', loss), armValue(one, 'a', loss)), null);
  // Seeds that only one arm has are left out of the difference.
  const partial = [rec('a', 0, 5.0), rec('a', 1, 9.0), rec('b', 0, 4.9)];
  assert.equal(pairedDifference(armValue(partial, 'a', loss), armValue(partial, 'b', loss))!.n, 1);
});
