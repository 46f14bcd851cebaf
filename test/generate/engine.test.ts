// The Generator on a tiny checkpoint: greedy and seeded sampling are reproducible; greedy tokens are the argmax
// of teacher-forced logits; batched and continuously batched sequences get exactly the tokens they get alone;
// sequences finish on max tokens, stop strings and EOS with the right text; bad requests are refused.
// Leaves out: the sampler's distribution (sampler.test.ts) and HTTP serving.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadPipeline, encodeText, type Pipeline } from '../../src/generate/pipeline.js';
import { Generator } from '../../src/generate/engine.js';
import { scoreTokens } from '../../src/generate/score.js';
import { TempRoot, params, solo } from './fixtures.js';

let tmp: TempRoot;
let dir: string;
let p: Pipeline;
let V: number; // ids the sampler may pick: the tokenizer's, not the padded embedding rows

const PROMPTS = ['Hello', 'abc', 'DeepSeek', 'The quick brown fox', '1234'];
const ids = (text: string): number[] => encodeText(p.tokenizer, p.chat, text);

before(() => {
  tmp = new TempRoot();
  dir = tmp.tiny();
  p = loadPipeline(dir);
  V = Math.min(p.tokenizer.vocabSize, p.model.cfg.vocabSize);
});

after(() => {
  p.model.dispose();
  tmp.remove();
});

/** The first prompt whose greedy run of `maxTokens` satisfies `pred`. */
function findGreedy(maxTokens: number, pred: (r: ReturnType<typeof solo>) => boolean): { prompt: number[]; run: ReturnType<typeof solo> } {
  for (const text of PROMPTS) {
    const run = solo(p, ids(text), params({ maxTokens }));
    if (pred(run)) return { prompt: ids(text), run };
  }
  throw new Error('fixture: no prompt gives the greedy run this test needs');
}

const decode = (g: number[]) => p.tokenizer.decode(g, { skipSpecialTokens: true });

test('prompts start with BOS and encode bytes one token each', () => {
  assert.deepEqual(ids('abc'), [256, 97, 98, 99]);
});

test('greedy generation is deterministic and equals the argmax of teacher-forced logits', () => {
  for (const text of ['Hello', 'abc']) {
    const prompt = ids(text);
    const a = solo(p, prompt, params({ maxTokens: 16 }));
    const b = solo(p, prompt, params({ maxTokens: 16 }));
    assert.deepEqual(a, b);
    assert.equal(a.generated.length, 16, `${text}: no early EOS in this fixture`);
    // prefill over prompt + generated[:-1]: row prompt.length-1+i must have its argmax (over the tokenizer's ids) at generated[i]
    const r = scoreTokens(p.model, [...prompt, ...a.generated.slice(0, -1)]);
    a.generated.forEach((tok, i) => {
      const row = r.logits[prompt.length - 1 + i];
      let best = 0;
      for (let j = 1; j < V; j++) if (row[j] > row[best]) best = j;
      assert.equal(tok, best, `${text}: token ${i}`);
    });
  }
});

test('temperature 1: the same seed gives the same tokens, another seed different ones', () => {
  const prompt = ids('Hello');
  const run = (seed: number) => solo(p, prompt, params({ maxTokens: 12, temperature: 1, seed })).generated;
  const a = run(5), b = run(5), c = run(6);
  assert.ok(a.length >= 4 && c.length >= 4, `${a} / ${c}`);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.slice(0, 4), c.slice(0, 4));
  // and sampling at temperature 1 is not greedy
  assert.notDeepEqual(a, solo(p, prompt, params({ maxTokens: 12 })).generated);
});

test('a batch of three prompts gives each prompt exactly its solo tokens (greedy and sampled)', () => {
  const prompts = ['Hello', 'abc', 'DeepSeek'].map(ids);
  for (const sampled of [false, true]) {
    const prm = (i: number) => params({ maxTokens: 12, ...(sampled ? { temperature: 0.9, topK: 40, topP: 0.95, seed: 10 + i } : {}) });
    const gen = new Generator(p.model, p.tokenizer, 3, 64);
    const seqs = prompts.map((pr, i) => gen.add(pr, prm(i)));
    assert.equal(gen.running, 3);
    assert.equal(gen.hasRoom, false);
    gen.runToCompletion();
    assert.equal(gen.running, 0);
    gen.dispose();
    seqs.forEach((s, i) => {
      const alone = solo(p, prompts[i], prm(i));
      assert.deepEqual(s.generated, alone.generated, `sampled=${sampled} prompt ${i}`);
      assert.equal(s.text, alone.text);
      assert.equal(s.finish, alone.finish);
    });
  }
});

test('continuous batching: sequences added while others are mid-decode match their solo runs', () => {
  const [A, B, C] = ['Hello', 'abc', 'DeepSeek'].map(ids);
  const prm = params({ maxTokens: 14 });
  const gen = new Generator(p.model, p.tokenizer, 3, 64);
  const a = gen.add(A, prm);
  gen.step(); gen.step(); gen.step();
  const b = gen.add(B, prm);
  gen.step(); gen.step();
  assert.equal(a.generated.length, 6);
  assert.equal(b.generated.length, 3);
  const c = gen.add(C, prm);
  gen.runToCompletion();
  gen.dispose();
  assert.deepEqual(a.generated, solo(p, A, prm).generated);
  assert.deepEqual(b.generated, solo(p, B, prm).generated);
  assert.deepEqual(c.generated, solo(p, C, prm).generated);
});

test('a finished sequence frees its slot, and the next one in that slot sees none of its cache', () => {
  const [A, B, C] = ['Hello', 'abc', 'DeepSeek'].map(ids);
  const gen = new Generator(p.model, p.tokenizer, 2, 64);
  const a = gen.add(A, params({ maxTokens: 3 }));
  const b = gen.add(B, params({ maxTokens: 12 }));
  while (a.finish === null) gen.step();
  assert.equal(gen.running, 1);
  assert.equal(gen.hasRoom, true);
  const c = gen.add(C, params({ maxTokens: 8 }));
  gen.runToCompletion();
  gen.dispose();
  assert.deepEqual(a.generated, solo(p, A, params({ maxTokens: 3 })).generated);
  assert.deepEqual(b.generated, solo(p, B, params({ maxTokens: 12 })).generated);
  assert.deepEqual(c.generated, solo(p, C, params({ maxTokens: 8 })).generated);
});

test('max tokens: finish "length" with exactly maxTokens generated, text = decode(generated), streamed = text', () => {
  for (const maxTokens of [1, 5, 16]) {
    const r = solo(p, ids('Hello'), params({ maxTokens }));
    assert.equal(r.finish, 'length');
    assert.equal(r.generated.length, maxTokens);
    assert.equal(r.text, decode(r.generated));
    assert.equal(r.streamed, r.text);
  }
});

test('a stop string cuts the text right before it and finishes "stop"', () => {
  const { prompt, run: full } = findGreedy(24, (r) => r.finish === 'length');
  const T = full.text;
  // the first two printable ASCII characters (past the start) that occur first at their own position
  let k = 2;
  while (k + 2 <= T.length && !(/^[\x21-\x7e]{2}$/.test(T.slice(k, k + 2)) && T.indexOf(T.slice(k, k + 2)) === k)) k++;
  assert.ok(k + 2 <= T.length, `fixture: no usable stop string in ${JSON.stringify(T)}`);
  const stop = T.slice(k, k + 2);
  const r = solo(p, prompt, params({ maxTokens: 24, stop: ['\u0000never', stop] }));
  assert.equal(r.finish, 'stop');
  assert.equal(r.text, T.slice(0, k));
  assert.equal(r.streamed, r.text);
  assert.ok(r.generated.length < full.generated.length);
  assert.deepEqual(r.generated, full.generated.slice(0, r.generated.length));
  assert.ok(decode(r.generated).includes(stop), 'the tokens generated complete the stop string');
  assert.ok(!decode(r.generated.slice(0, -1)).includes(stop), 'generation stops at the token that completes it');
});

test('a stop string that only begins in the text holds nothing back for good', () => {
  const { prompt, run: full } = findGreedy(24, (r) => r.finish === 'length');
  // every character of the text starts this stop string, whose remainder never occurs
  const stops = [...new Set(full.text)].map((ch) => ch + '\u0000\u0001');
  const r = solo(p, prompt, params({ maxTokens: 24, stop: stops }));
  assert.equal(r.finish, 'length');
  assert.equal(r.text, full.text);
  assert.equal(r.streamed, full.text);
  assert.deepEqual(r.generated, full.generated);
});

test('EOS as the first greedy token stops at once with no tokens and no text', () => {
  const prompt = ids('Hello');
  const first = solo(p, prompt, params({ maxTokens: 1 })).generated[0];
  const edited = loadPipeline(tmp.withConfig(dir, (c) => { c.eos_token_id = first; }));
  try {
    assert.deepEqual(edited.model.cfg.eosTokenId, [first]);
    const r = solo(edited, prompt, params({ maxTokens: 8 }));
    assert.equal(r.finish, 'stop');
    assert.deepEqual(r.generated, []);
    assert.equal(r.text, '');
  } finally {
    edited.model.dispose();
  }
});

test('EOS mid-sequence (one of several eos ids) stops before it; the EOS token is not part of the output', () => {
  const prompt = ids('Hello');
  const full = solo(p, prompt, params({ maxTokens: 16 }));
  const j = full.generated.findIndex((t, i) => i >= 2 && !full.generated.slice(0, i).includes(t));
  assert.ok(j >= 2, `fixture: ${full.generated}`);
  const edited = loadPipeline(tmp.withConfig(dir, (c) => { c.eos_token_id = [511, full.generated[j]]; }));
  try {
    const r = solo(edited, prompt, params({ maxTokens: 16 }));
    assert.equal(r.finish, 'stop');
    assert.deepEqual(r.generated, full.generated.slice(0, j));
    assert.equal(r.text, decode(full.generated.slice(0, j)));
  } finally {
    edited.model.dispose();
  }
});

test('EOS right after text that could begin a stop string still emits that text', () => {
  // a greedy run that ends on the checkpoint's own EOS with a printable ASCII last character
  const { prompt, run } = findGreedy(24, (r) => r.finish === 'stop' && r.generated.length < 24 && /[\x21-\x7e]$/.test(r.text));
  assert.equal(run.text, decode(run.generated));
  const last = run.text.slice(-1);
  const r = solo(p, prompt, params({ maxTokens: 24, stop: [last + '\u0000\u0001'] }));
  assert.equal(r.finish, 'stop');
  assert.deepEqual(r.generated, run.generated);
  assert.equal(r.text, run.text, 'the held-back last character is part of the answer: EOS ended it, not the stop string');
});

test('bad requests are refused with a message naming the limit, and leave no slot taken', () => {
  const gen = new Generator(p.model, p.tokenizer, 1, 32);
  const ten = ids('123456789');
  assert.equal(ten.length, 10);
  const table: { name: string; prompt: number[]; over: Parameters<typeof params>[0]; error: RegExp }[] = [
    { name: 'empty prompt', prompt: [], over: {}, error: /the prompt is empty/ },
    { name: 'prompt + max tokens beyond the context', prompt: ten, over: { maxTokens: 23 }, error: /prompt \(10 tokens\) \+ max tokens \(23\) exceed the context of 32 tokens/ },
    { name: 'temperature < 0', prompt: ten, over: { temperature: -0.5 }, error: /temperature must be ≥ 0, got -0\.5/ },
    { name: 'temperature NaN', prompt: ten, over: { temperature: NaN }, error: /temperature must be ≥ 0, got NaN/ },
    { name: 'top-p 0', prompt: ten, over: { topP: 0 }, error: /top-p must be in \(0, 1\], got 0/ },
    { name: 'top-p above 1', prompt: ten, over: { topP: 1.5 }, error: /top-p must be in \(0, 1\], got 1\.5/ },
    { name: 'top-k negative', prompt: ten, over: { topK: -1 }, error: /top-k must be an integer ≥ 0, got -1/ },
    { name: 'max tokens 0', prompt: ten, over: { maxTokens: 0 }, error: /max tokens must be an integer ≥ 1, got 0/ },
    { name: 'token outside the vocabulary', prompt: [256, 999], over: {}, error: /token id 999 at position 1 is outside the vocabulary \(0\.\.511\)/ },
  ];
  for (const c of table) {
    assert.throws(() => gen.add(c.prompt, params({ maxTokens: 4, ...c.over })), c.error, c.name);
    assert.equal(gen.running, 0, c.name);
  }
  // exactly at the context limit is fine, and the one slot is still free
  const ok = gen.add(ten, params({ maxTokens: 22 }));
  assert.throws(() => gen.add(ten, params({ maxTokens: 4 })), /all 1 generation slots are busy/);
  gen.runToCompletion();
  // ...and it runs its whole budget (this greedy run meets no EOS), token for token as with room to spare
  assert.equal(ok.finish, 'length');
  assert.equal(ok.generated.length, 22);
  assert.deepEqual(ok.generated, solo(p, ten, params({ maxTokens: 22 })).generated);
  // its slot is free again: the next request runs in it
  assert.equal(gen.running, 0);
  const again = gen.add(ten, params({ maxTokens: 4 }));
  gen.runToCompletion();
  assert.deepEqual(again.generated, ok.generated.slice(0, 4));
  gen.dispose();
  assert.throws(() => new Generator(p.model, p.tokenizer, 1, 5000), /5000 tokens exceed max_position_embeddings \(4096\)/);
});

test('cancel frees the slot and marks the sequence finished', () => {
  const gen = new Generator(p.model, p.tokenizer, 1, 64);
  const a = gen.add(ids('Hello'), params({ maxTokens: 20 }));
  gen.step();
  gen.cancel(a);
  assert.equal(a.finish, 'stop');
  assert.equal(a.generated.length, 2);
  assert.equal(gen.running, 0);
  const b = gen.add(ids('abc'), params({ maxTokens: 6 }));
  gen.runToCompletion();
  gen.dispose();
  assert.deepEqual(b.generated, solo(p, ids('abc'), params({ maxTokens: 6 })).generated);
});
