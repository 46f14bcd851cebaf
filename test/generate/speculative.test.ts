// Self-speculative decoding in the Generator: greedy output is token for token the plain greedy output (alone,
// batched, continuously batched, with every draft depth, fixed or adaptive), sampled output follows the main model's
// distribution exactly (chi-square against the enumerated distribution), finish reasons and streaming behave as
// without speculation, and bad settings are refused with what is wrong.
// Uses a tiny model trained for a few seconds, whose MTP module agrees with the main model ~90% of the time.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadPipeline, encodeText, type Pipeline } from '../../src/generate/pipeline.js';
import { Generator, type SpeculativeOptions } from '../../src/generate/engine.js';
import { tokenDistribution } from '../../src/generate/speculative.js';
import { scoreTokens } from '../../src/generate/score.js';
import { TempRoot, params, solo, trainedTiny } from './fixtures.js';
import { chiSquareCritical } from './chi-square.js';

let tmp: TempRoot;
let trained: Pipeline;
let random: Pipeline;
const PROMPTS = ['the cat', 'a dog ran', 'the bird', 'the', 'house. the', 'zebra'];
const fixed = (K: number): SpeculativeOptions => ({ draftTokens: K, adaptive: false });

before(async () => {
  tmp = new TempRoot();
  trained = loadPipeline(await trainedTiny(tmp.dir));
  random = loadPipeline(tmp.tiny());
});

after(async () => {
  await trained.model.dispose();
  await random.model.dispose();
  tmp.remove();
});

const ids = (p: Pipeline, text: string): number[] => encodeText(p.tokenizer, p.chat, text);

test('greedy: speculative output equals plain output for every prompt and draft depth 1–4, with drafts both kept and rejected', () => {
  let lowest = 1;
  for (const K of [1, 2, 3, 4]) {
    const gen = new Generator(trained.model, trained.tokenizer, 1, 96, { speculative: fixed(K) });
    for (const text of PROMPTS) {
      const prompt = ids(trained, text);
      const plain = solo(trained, prompt, params({ maxTokens: 40 }), 96);
      const seq = gen.add(prompt, params({ maxTokens: 40 }));
      gen.runToCompletion();
      assert.deepEqual(seq.generated, plain.generated, `K=${K} "${text}"`);
      assert.equal(seq.text, plain.text);
      assert.equal(seq.finish, plain.finish);
    }
    const st = gen.speculation()!;
    gen.dispose();
    assert.equal(st.acceptance.length, K);
    // Kept drafts at every depth: a chained draft is as good as the module's state is right (rolled back each cycle).
    st.acceptance.forEach((a, j) => assert.ok(a > 0.6, `K=${K}: position-${j + 1} acceptance ${a}`));
    assert.ok(st.acceptedPerStep! > 1.5 && st.acceptedPerStep! <= K + 1, `K=${K}: ${st.acceptedPerStep} tokens per verify pass`);
    lowest = Math.min(lowest, ...st.acceptance);
  }
  assert.ok(lowest < 0.95, `some drafts were rejected (lowest acceptance ${lowest})`);
});

test('greedy on an untrained model (drafts almost always rejected) still equals plain output', () => {
  for (const text of ['Hello', 'abc', 'DeepSeek', '1234']) {
    const prompt = ids(random, text);
    assert.deepEqual(solo(random, prompt, params({ maxTokens: 30 }), 64, fixed(2)).generated, solo(random, prompt, params({ maxTokens: 30 })).generated, text);
  }
});

test('batched and continuously batched: sequences with different accepted lengths share verify passes and each gets its plain tokens', () => {
  for (const spec of [fixed(1), fixed(3), { draftTokens: 3 }]) {
    const gen = new Generator(trained.model, trained.tokenizer, 3, 96, { speculative: spec });
    const budgets = [40, 7, 25, 33];
    const prompts = PROMPTS.slice(0, 4).map((t) => ids(trained, t));
    const seqs = [gen.add(prompts[0], params({ maxTokens: budgets[0] })), gen.add(prompts[1], params({ maxTokens: budgets[1] }))];
    gen.step(); gen.step();
    seqs.push(gen.add(prompts[2], params({ maxTokens: budgets[2] })));
    gen.step();
    while (!gen.hasRoom) gen.step();
    seqs.push(gen.add(prompts[3], params({ maxTokens: budgets[3] })));
    gen.runToCompletion();
    gen.dispose();
    seqs.forEach((s, i) => {
      const plain = solo(trained, prompts[i], params({ maxTokens: budgets[i] }), 96);
      assert.deepEqual(s.generated, plain.generated, `${JSON.stringify(spec)} prompt ${i}`);
      assert.equal(s.finish, plain.finish);
    });
  }
});

test('max tokens, stop strings and streaming: the same text, finish reason and stream as plain decoding', () => {
  const prompt = ids(trained, 'the cat');
  for (const over of [{ maxTokens: 1 }, { maxTokens: 2 }, { maxTokens: 9 }, { maxTokens: 40, stop: ['house'] }, { maxTokens: 40, stop: ['. the b'] }]) {
    const plain = solo(trained, prompt, params(over), 96);
    const spec = solo(trained, prompt, params(over), 96, fixed(3));
    assert.deepEqual(spec, plain, JSON.stringify(over));
    assert.equal(spec.streamed, spec.text);
  }
});

test('an EOS among kept drafts ends the sequence there, as plain decoding does', () => {
  // Make the period token the EOS: the model emits it often, and usually inside a run of kept drafts.
  const period = trained.tokenizer.encode('.', { addSpecialTokens: false });
  assert.equal(period.length, 1);
  const dir = tmp.withConfig(trained.dir, (c) => { c.eos_token_id = period[0]; });
  const p = loadPipeline(dir);
  try {
    for (const text of ['the cat', 'a dog ran']) {
      const prompt = ids(p, text);
      const plain = solo(p, prompt, params({ maxTokens: 40 }), 96);
      assert.equal(plain.finish, 'stop');
      assert.deepEqual(solo(p, prompt, params({ maxTokens: 40 }), 96, fixed(3)), plain, text);
    }
  } finally {
    void p.model.dispose();
  }
});

test('sampling: the first three tokens follow the main model\'s distribution exactly (chi-square, false-alarm rate 1e-4)', () => {
  // temperature 4 with top-k 3: each step has at most 3 candidates, so three tokens have at most 27 outcomes, whose
  // probabilities are enumerated from teacher-forced logits.
  const sp = { temperature: 4, topK: 3, topP: 1 };
  const prompt = ids(trained, 'the cat');
  const allowed = undefined;
  const V = Math.min(trained.tokenizer.vocabSize, trained.model.cfg.vocabSize);
  const dist = (ctx: number[]) => {
    const r = scoreTokens(trained.model, ctx);
    return tokenDistribution(r.logits[ctx.length - 1].subarray(0, V), sp, allowed);
  };
  // Outcomes are the generated tokens: an EOS ends a sequence (and is not among them).
  const eos = new Set(trained.model.cfg.eosTokenId);
  const expected = new Map<string, number>();
  const add = (key: number[], prob: number) => expected.set(key.join(','), (expected.get(key.join(',')) ?? 0) + prob);
  const walk = (ctx: number[], gen: number[], prob: number) => {
    if (gen.length === 3) return add(gen, prob);
    dist([...prompt, ...ctx]).forEach((q, t) => {
      if (q === 0) return;
      if (eos.has(t)) add(gen, prob * q);
      else walk([...ctx, t], [...gen, t], prob * q);
    });
  };
  walk([], [], 1);
  const N = 3000;
  const observed = new Map<string, number>();
  const gen = new Generator(trained.model, trained.tokenizer, 8, 96, { speculative: fixed(2) });
  let next = 0;
  const seqs: { generated: number[]; finish: unknown }[] = [];
  while (seqs.length < N || gen.running > 0) {
    while (gen.hasRoom && seqs.length < N) seqs.push(gen.add(prompt, params({ maxTokens: 3, ...sp, seed: 1000 + next++ })));
    gen.step();
  }
  const st = gen.speculation()!;
  gen.dispose();
  for (const s of seqs) observed.set(s.generated.join(','), (observed.get(s.generated.join(',')) ?? 0) + 1);
  for (const key of observed.keys()) assert.ok(expected.has(key), `outcome ${key} has probability 0 under the main model`);
  // Pool outcomes expected fewer than 5 times into one cell, as the test requires.
  let chi = 0, cells = 0, poolE = 0, poolO = 0;
  for (const [key, prob] of expected) {
    const e = prob * N, o = observed.get(key) ?? 0;
    if (e < 5) { poolE += e; poolO += o; continue; }
    chi += (o - e) ** 2 / e;
    cells++;
  }
  if (poolE > 0) { chi += (poolO - poolE) ** 2 / poolE; cells++; }
  assert.ok(cells >= 6, `${cells} cells`);
  const critical = chiSquareCritical(cells - 1, 1e-4);
  assert.ok(chi < critical, `chi-square ${chi.toFixed(1)} ≥ ${critical.toFixed(1)} (${cells - 1} degrees of freedom)`);
  assert.ok(st.acceptance[0] > 0.2 && st.acceptance[0] < 0.95, `drafts both kept and rejected: ${st.acceptance[0]}`);
});

test('bad settings: no MTP module, draft tokens out of range', () => {
  const none = tmp.tiny({ set: { num_nextn_predict_layers: 0 } });
  const p = loadPipeline(none);
  try {
    assert.throws(() => new Generator(p.model, p.tokenizer, 1, 64, { speculative: fixed(1) }), /no MTP module: config\.json num_nextn_predict_layers is 0/);
  } finally {
    void p.model.dispose();
  }
  const noTensors = tmp.withConfig(none, (c) => { c.num_nextn_predict_layers = 1; });
  const q = loadPipeline(noTensors);
  try {
    assert.throws(() => new Generator(q.model, q.tokenizer, 1, 64, { speculative: fixed(1) }), /num_nextn_predict_layers = 1 but the model\.layers\.2\.\* tensors are absent/);
  } finally {
    void q.model.dispose();
  }
  for (const K of [0, -1, 1.5, 63]) {
    assert.throws(() => new Generator(random.model, random.tokenizer, 1, 64, { speculative: fixed(K) }), /draft tokens must be an integer from 1 to 62/, `K=${K}`);
  }
});
