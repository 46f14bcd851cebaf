// sampleToken/argmax/validateSampler on hand-made logits: greedy ties, top-k and top-p limits, and the sampled
// frequencies against softmax(logits / T) worked out with Math.exp.
// Leaves out: the generation loop (engine.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { argmax, sampleToken, validateSampler, type SamplerOptions } from '../../src/generate/sampler.js';
import { Rng } from '../../src/util/random.js';

const opts = (over: Partial<SamplerOptions> = {}): SamplerOptions => ({ temperature: 1, topK: 0, topP: 1, ...over });

function frequencies(logits: number[], o: SamplerOptions, draws: number, seed: number): number[] {
  const rng = new Rng(seed);
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < draws; i++) counts[sampleToken(logits, o, rng)]++;
  return counts.map((c) => c / draws);
}

/** softmax(z / T) restricted to `keep` (renormalised), zero elsewhere. */
function expected(z: number[], T: number, keep: number[] = z.map((_, i) => i)): number[] {
  const w = z.map((v, i) => (keep.includes(i) ? Math.exp(v / T) : 0));
  const s = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / s);
}

function assertClose(got: number[], want: number[], tol: number, what: string): void {
  got.forEach((g, i) => assert.ok(Math.abs(g - want[i]) <= tol, `${what}[${i}]: got ${g.toFixed(4)}, expected ${want[i].toFixed(4)}`));
}

test('argmax: the largest logit, ties to the lowest id', () => {
  const table: { logits: number[]; want: number }[] = [
    { logits: [0.1, 0.7, 0.3], want: 1 },
    { logits: [1, 3, 3, 2], want: 1 },
    { logits: [5, 5, 5], want: 0 },
    { logits: [-2, -1, -1], want: 1 },
    { logits: [0, 0, 0, 1], want: 3 },
  ];
  for (const { logits, want } of table) {
    assert.equal(argmax(logits), want, JSON.stringify(logits));
    // temperature 0 is greedy, whatever top-k/top-p say, and draws no random number
    const rng = new Rng(1);
    assert.equal(sampleToken(Float32Array.from(logits), opts({ temperature: 0, topK: 2, topP: 0.5 }), rng), want);
    assert.equal(rng.nextU32(), new Rng(1).nextU32(), 'greedy consumed no randomness');
  }
});

test('top-k 1 and a tiny top-p are greedy at any temperature (ties to the lowest id)', () => {
  const table: number[][] = [[0.2, 1.5, -0.3, 1.4], [3, 3, 1], [-1, -1, -0.5, -0.5]];
  for (const logits of table) {
    const want = argmax(logits);
    for (let seed = 0; seed < 200; seed++) {
      assert.equal(sampleToken(logits, opts({ temperature: 1.5, topK: 1 }), new Rng(seed)), want, `top-k 1 ${logits}`);
      assert.equal(sampleToken(logits, opts({ temperature: 1.5, topP: 1e-9 }), new Rng(seed)), want, `top-p tiny ${logits}`);
    }
  }
});

test('sampled frequencies over 20k draws match softmax(logits / T) within 2%', () => {
  const z = [1.0, 0.5, -0.2, 2.0];
  for (const T of [1, 0.7, 2]) {
    const want = expected(z, T);
    assertClose(frequencies(z, opts({ temperature: T }), 20_000, 42), want, 0.02, `T=${T}`);
  }
  // the literal distribution at T = 1: softmax([1, .5, -.2, 2]) = [e, e^.5, e^-.2, e^2] / 12.5747 = [0.2162, 0.1311, 0.0651, 0.5876]
  assertClose(expected(z, 1), [0.2162, 0.1311, 0.0651, 0.5876], 1e-4, 'softmax literal');
});

test('top-k renormalises over the k most likely tokens', () => {
  const z = [1.0, 0.5, -0.2, 2.0];
  const got = frequencies(z, opts({ topK: 2 }), 20_000, 7);
  assertClose(got, expected(z, 1, [3, 0]), 0.02, 'top-k 2');
  assert.equal(got[1], 0);
  assert.equal(got[2], 0);
});

test('top-p keeps the smallest prefix of the sorted tokens whose mass reaches p', () => {
  // probabilities 0.5, 0.3, 0.15, 0.05 (ids 2, 0, 3, 1 by rank)
  const z = [Math.log(0.3), Math.log(0.05), Math.log(0.5), Math.log(0.15)];
  const table: { p: number; keep: number[] }[] = [
    { p: 0.4, keep: [2] },          // 0.5 ≥ 0.4
    { p: 0.7, keep: [2, 0] },       // 0.5 < 0.7 ≤ 0.8
    { p: 0.9, keep: [2, 0, 3] },    // 0.8 < 0.9 ≤ 0.95
    { p: 1, keep: [0, 1, 2, 3] },
  ];
  for (const { p, keep } of table) {
    const got = frequencies(z, opts({ topP: p }), 20_000, 3);
    assertClose(got, expected(z, 1, keep), 0.02, `top-p ${p}`);
    for (let i = 0; i < 4; i++) if (!keep.includes(i)) assert.equal(got[i], 0, `top-p ${p}: id ${i} never drawn`);
  }
});

test('ids outside the allowed mask are never drawn, greedy or sampled, and the rest keep their proportions', () => {
  const z = [3, 0.5, 2, 0.5, 1];
  const allowed = Uint8Array.from([0, 1, 1, 1, 0]);
  assert.equal(sampleToken(z, opts({ temperature: 0 }), new Rng(1), allowed), 2, 'greedy skips the larger disallowed id 0');
  for (const o of [opts(), opts({ topK: 2 }), opts({ topP: 0.9 })]) {
    const rng = new Rng(11), counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < 20_000; i++) counts[sampleToken(z, o, rng, allowed)]++;
    assert.equal(counts[0] + counts[4], 0, `${JSON.stringify(o)}: disallowed ids drawn`);
    const keep = o.topK === 2 ? [2, 1] : [1, 2, 3];
    assertClose(counts.map((c) => c / 20_000), expected(z, 1, keep), 0.02, JSON.stringify(o));
  }
});

test('the same seed draws the same tokens', () => {
  const z = Array.from({ length: 50 }, (_, i) => Math.sin(i));
  const draw = (seed: number) => { const r = new Rng(seed); return Array.from({ length: 40 }, () => sampleToken(z, opts(), r)); };
  assert.deepEqual(draw(9), draw(9));
  assert.notDeepEqual(draw(9), draw(10));
});

test('validateSampler refuses out-of-range options, naming the option', () => {
  const table: { o: Partial<SamplerOptions>; error: RegExp }[] = [
    { o: { temperature: -0.1 }, error: /temperature must be ≥ 0, got -0\.1/ },
    { o: { temperature: Infinity }, error: /temperature must be ≥ 0, got Infinity/ },
    { o: { temperature: NaN }, error: /temperature/ },
    { o: { topK: 1.5 }, error: /top-k must be an integer ≥ 0, got 1\.5/ },
    { o: { topK: -1 }, error: /top-k must be an integer ≥ 0, got -1/ },
    { o: { topP: 0 }, error: /top-p must be in \(0, 1\], got 0/ },
    { o: { topP: 1.01 }, error: /top-p must be in \(0, 1\], got 1\.01/ },
    { o: { topP: NaN }, error: /top-p/ },
  ];
  for (const { o, error } of table) assert.throws(() => validateSampler(opts(o)), error, JSON.stringify(o));
  for (const o of [opts(), opts({ temperature: 0 }), opts({ topK: 5, topP: 0.01 })]) validateSampler(o);
});
