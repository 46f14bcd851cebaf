// The float64 reference on the hand-worked MLA model of hand-mla.ts: several heads, the nope/rope split of the
// query, q-LoRA with its eps-1e-6 norm, interleaved vs half-split RoPE, YaRN with unequal mscale / mscale_all_dim.
// The expected logits come from the closed-form derivation in hand-mla.ts, not from any implementation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadRefModel, refForward } from './deepseek-f64.js';
import { HAND_VARIANTS, handConstants, handLogits, writeHandModel } from './hand-mla.js';

function maxAbsDiff(a: number[][], b: number[][]): number {
  assert.equal(a.length, b.length, 'rows');
  let m = 0;
  a.forEach((row, i) => {
    assert.equal(row.length, b[i]!.length, 'row length');
    row.forEach((x, j) => { m = Math.max(m, Math.abs(x - b[i]![j]!)); });
  });
  return m;
}

for (const v of HAND_VARIANTS) {
  test(`hand-worked MLA (2 heads, q-LoRA, nope 1 + rope 4): the reference gives the derived logits, ${v.name}`, () => {
    const out = refForward(loadRefModel(writeHandModel(v)), [0, 1]);
    const diff = maxAbsDiff(out.logits, handLogits(v));
    assert.ok(diff < 1e-12, `max |reference - hand| = ${diff}`);
  });
}

test('hand-worked MLA: the derivation evaluated, and each variant moves the second row', () => {
  // c = 2^-10 k / sqrt(2^-20 k^2 + 1e-6) with k = 1/sqrt(1 + 1e-5)
  assert.ok(Math.abs(handConstants().c - 0.698671) < 1e-6, `c = ${handConstants().c}`);
  // plain: d_0 = 5^-0.5 (2c^2 - 2kc sin 1) = -0.089234, p_0 = 0.477706;
  //        d_1 = 5^-0.5 (-2c^2 + 2kc (cos 1 - sin 0.5 - 1)) = -1.023472, p_1 = 0.264352
  //   h_1 = [c (2 p_0 - 1), 2 + c, 2c p_1, c (1 - 2 p_1)] = [-0.031152, 2.698671, 0.369390, 0.329281]
  //   rms(h_1) = sqrt(mean(h_1^2) + 1e-5) = 1.371925; logits = [1,2,3,4] * h_1 / rms
  const [plain, halfSplit, yarn] = HAND_VARIANTS.map(handLogits);
  const row1 = [-0.022707, 3.934138, 0.807748, 0.960057];
  row1.forEach((x, i) => assert.ok(Math.abs(plain![1]![i]! - x) < 1e-6, `plain row 1 [${i}]: ${plain![1]![i]} vs ${x}`));
  // token 0 sees only itself, so its row is the same in every variant; token 1's row differs visibly
  for (const other of [halfSplit!, yarn!]) {
    assert.ok(maxAbsDiff([other[0]!], [plain![0]!]) === 0, 'row 0 does not depend on RoPE');
    assert.ok(maxAbsDiff([other[1]!], [plain![1]!]) > 2e-2, 'row 1 depends on the RoPE variant');
  }
});
