// scoreTokens: feeding tokens one at a time through the absorbed latent cache (decode) gives the prefill logits and
// MTP logits within 1e-4, for F32, BF16 and FP8 tiny checkpoints; plus its argument errors.
// Leaves out: the forward pass against an independent reference (test/reference).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DeepSeekModel } from '../../src/model/transformer.js';
import { scoreTokens } from '../../src/generate/score.js';
import type { InitDType } from '../../src/model/init.js';
import { TempRoot } from './fixtures.js';

let tmp: TempRoot;
before(() => { tmp = new TempRoot(); });
after(() => tmp.remove());

const TOKENS = [256, 72, 101, 108, 108, 111, 44, 32, 500, 3, 259, 17];

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  assert.equal(a.length, b.length);
  let d = 0;
  a.forEach((row, i) => {
    assert.equal(row.length, b[i].length);
    row.forEach((v, j) => { d = Math.max(d, Math.abs(v - b[i][j])); });
  });
  return d;
}

for (const dtype of ['f32', 'bf16', 'fp8'] as InitDType[]) {
  test(`decode through the latent cache agrees with prefill within 1e-4 (${dtype}, logits and MTP logits)`, () => {
    const m = DeepSeekModel.load(tmp.tiny({ dtype, seed: 21 }));
    try {
      const V = m.cfg.vocabSize;
      const pre = scoreTokens(m, TOKENS, { mtp: true });
      const dec = scoreTokens(m, TOKENS, { mtp: true, decode: true });
      assert.equal(pre.logits.length, TOKENS.length);
      assert.equal(pre.mtpLogits!.length, TOKENS.length - 1);
      for (const row of [...pre.logits, ...pre.mtpLogits!]) assert.equal(row.length, V);
      const d = maxAbsDiff(pre.logits, dec.logits), dm = maxAbsDiff(pre.mtpLogits!, dec.mtpLogits!);
      assert.ok(d < 1e-4, `logits max |Δ| ${d}`);
      assert.ok(dm < 1e-4, `MTP logits max |Δ| ${dm}`);
      // the rows are real, distinct predictions (not a constant or a copy of one row)
      assert.ok(pre.logits.every((r) => r.every(Number.isFinite)));
      assert.ok(maxAbsDiff([pre.logits[0]], [pre.logits[1]]) > 0.1);
      assert.ok(maxAbsDiff([pre.logits[1]], [pre.mtpLogits![0]]) > 0.1, 'MTP row 0 predicts token 2, not token 1');
      // causality: a prefix scores exactly as the same rows of the longer sequence
      const prefix = scoreTokens(m, TOKENS.slice(0, 5), { mtp: true });
      assert.ok(maxAbsDiff(prefix.logits, pre.logits.slice(0, 5)) < 1e-5);
      assert.ok(maxAbsDiff(prefix.mtpLogits!, pre.mtpLogits!.slice(0, 4)) < 1e-5);
    } finally {
      m.dispose();
    }
  });
}

test('scoreTokens argument errors', () => {
  const m = DeepSeekModel.load(tmp.tiny({ seed: 22 }));
  try {
    assert.throws(() => scoreTokens(m, []), /no tokens to score/);
    assert.throws(() => scoreTokens(m, [5], { mtp: true }), /--mtp needs at least 2 tokens/);
    assert.throws(() => scoreTokens(m, [5, 512]), /token id 512 at position 1 is outside the vocabulary \(0\.\.511\)/);
    assert.throws(() => scoreTokens(m, [5, 512], { decode: true }), /token id 512/);
    assert.throws(() => scoreTokens(m, [5, -1]), /token id -1 at position 1/);
    // one token: one row, no MTP
    const one = scoreTokens(m, [5]);
    assert.equal(one.logits.length, 1);
    assert.equal(one.mtpLogits, null);
  } finally {
    m.dispose();
  }
});
