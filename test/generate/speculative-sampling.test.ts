// The arithmetic of speculative decoding on synthetic distributions: tokenDistribution is exactly what sampleToken
// draws from (every sampler setting); rejection sampling emits tokens distributed as the main model's p whatever the
// draft distribution q (chi-square, false-alarm rate 1e-4 per check); greedy verification keeps the agreeing prefix;
// acceptance statistics; and the adaptive policy drafts when it pays and stops when it does not.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sampleToken } from '../../src/generate/sampler.js';
import { tokenDistribution, verifySampled, verifyGreedy, AcceptanceStats, AdaptiveDraft, sampleFrom } from '../../src/generate/speculative.js';
import { Rng } from '../../src/util/random.js';
import { chiSquareCritical } from './chi-square.js';

/** Pearson chi-square of counts against probabilities (cells expected < 5 pooled); asserts below the 1e-4 critical value. */
function assertFollows(counts: number[], probs: ArrayLike<number>, n: number, what: string): void {
  let chi = 0, cells = 0, poolE = 0, poolO = 0;
  for (let i = 0; i < counts.length; i++) {
    const e = probs[i] * n, o = counts[i];
    if (e === 0) { assert.equal(o, 0, `${what}: id ${i} has probability 0 but was drawn ${o} times`); continue; }
    if (e < 5) { poolE += e; poolO += o; continue; }
    chi += (o - e) ** 2 / e;
    cells++;
  }
  if (poolE > 0) { chi += (poolO - poolE) ** 2 / poolE; cells++; }
  if (cells < 2) return;
  const crit = chiSquareCritical(cells - 1, 1e-4);
  assert.ok(chi < crit, `${what}: chi-square ${chi.toFixed(1)} ≥ ${crit.toFixed(1)} (${cells - 1} df)`);
}

const LOGITS = [2.0, 1.5, 1.5, 0.3, -0.5, 1.9, -2, 0.8];

test('tokenDistribution is the distribution sampleToken draws from, for every sampler setting', () => {
  const settings = [
    { temperature: 1, topK: 0, topP: 1 }, { temperature: 0.7, topK: 3, topP: 1 }, { temperature: 1.3, topK: 0, topP: 0.8 },
    { temperature: 1, topK: 5, topP: 0.6 }, { temperature: 2, topK: 2, topP: 1 },
  ];
  const allowed = Uint8Array.from(LOGITS, (_, i) => (i === 5 ? 0 : 1));
  for (const o of settings) {
    for (const mask of [undefined, allowed]) {
      const p = tokenDistribution(LOGITS, o, mask);
      assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
      const rng = new Rng(17), n = 20000, counts = new Array(LOGITS.length).fill(0);
      for (let i = 0; i < n; i++) counts[sampleToken(LOGITS, o, rng, mask)]++;
      assertFollows(counts, p, n, `${JSON.stringify(o)} mask=${!!mask}`);
    }
  }
  // top-k 3 keeps ids 0, 5 and one of the tied 1/2 (the lower id)
  assert.deepEqual(Array.from(tokenDistribution(LOGITS, { temperature: 1, topK: 3, topP: 1 }), (x) => x > 0), [true, true, false, false, false, true, false, false]);
});

test('rejection sampling emits tokens distributed as p, whatever the drafts\' distribution q', () => {
  const V = 6;
  const p = [Float64Array.from([0.5, 0.2, 0.1, 0.1, 0.05, 0.05]), Float64Array.from([0.1, 0.1, 0.5, 0.1, 0.1, 0.1]), Float64Array.from([0, 0, 0, 0.5, 0.5, 0])];
  const qs = [
    [Float64Array.from([0.1, 0.1, 0.1, 0.1, 0.1, 0.5]), Float64Array.from([0.3, 0.3, 0.1, 0.1, 0.1, 0.1])], // far from p
    [p[0], p[1]],                                                                                           // equal to p
    [Float64Array.from([0, 0, 0, 0, 0, 1]), Float64Array.from([1, 0, 0, 0, 0, 0])],                         // point masses
  ];
  for (const q of qs) {
    const rng = new Rng(5), n = 30000;
    const first = new Array(V).fill(0), second = new Array(V).fill(0);
    let twoOrMore = 0;
    for (let i = 0; i < n; i++) {
      const drafts = q.map((d) => sampleFrom(d, rng));
      const out = verifySampled(p, drafts, q, rng);
      assert.ok(out.length >= 1 && out.length <= 3);
      first[out[0]]++;
      // Given the first token was a kept draft, the second is p[1]'s draw (the first draft's verdict is independent).
      if (out.length >= 2) { second[out[1]]++; twoOrMore++; }
    }
    assertFollows(first, p[0], n, `first token, q = ${q[0]}`);
    if (twoOrMore > 1000) assertFollows(second, p[1], twoOrMore, `second token, q = ${q[1]}`);
  }
});

test('greedy verification keeps drafts while they equal the main model\'s choice, then adds its own', () => {
  assert.deepEqual(verifyGreedy([4, 7, 9], [4, 7]), [4, 7, 9]);   // all kept, plus the bonus token
  assert.deepEqual(verifyGreedy([4, 8, 9], [4, 7]), [4, 8]);      // second rejected: the main model's 8 instead
  assert.deepEqual(verifyGreedy([5, 7, 9], [4, 7]), [5]);         // first rejected: later agreement does not count
  assert.deepEqual(verifyGreedy([3], []), [3]);
});

test('acceptance statistics count each position over the drafts that reached it', () => {
  const s = new AcceptanceStats();
  s.record(2, 2);  // both kept: 3 tokens
  s.record(2, 0);  // first rejected: position 2 never reached
  s.record(2, 1);  // first kept, second rejected
  s.record(0, 0);  // a plain step: not counted
  assert.deepEqual(s.rates(), [2 / 3, 1 / 2]);
  assert.equal(s.acceptedPerStep(), (3 + 1 + 2) / 3);
});

test('adaptive drafting: tries each depth, then keeps drafting where it pays and stops where it does not', () => {
  const run = (acceptRate: number, plainMs: number, cycleMs: (k: number) => number) => {
    const a = new AdaptiveDraft(2), rng = new Rng(3), chosen: number[] = [];
    for (let c = 0; c < 200; c++) {
      const k = a.choose(1);
      chosen.push(k);
      let kept = 0;
      while (kept < k && rng.uniform() < acceptRate) kept++;
      a.recordVerify(k, kept);
      a.recordCycle(k, 1, k === 0 ? plainMs : cycleMs(k));
    }
    return chosen.slice(100);
  };
  // Cheap verify passes and 80% acceptance: drafting 2 yields ~2.4 tokens per 1.3 plain steps.
  const good = run(0.8, 10, (k) => 10 + 1.5 * k);
  assert.ok(good.filter((k) => k === 2).length > 80, `mostly K=2 when it pays: ${good}`);
  // 10% acceptance and costly verify passes: plain decoding, with only the occasional probe.
  const bad = run(0.1, 10, (k) => 10 + 5 * k);
  assert.ok(bad.filter((k) => k === 0).length > 85, `mostly K=0 when it does not pay: ${bad}`);
});
