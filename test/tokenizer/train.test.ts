// BPE training: first merges worked out by hand, the incremental learner against its naive twin, and a
// tokenizer trained on Brown's train split that loads in ours and in @huggingface/tokenizers with identical ids
// on held-out Brown text and mixed text, round trips, has exactly vocabSize ids with the specials at the end.
// Leaves out: speed (bench/tokenizer-train.ts).

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Tokenizer } from '../../src/tokenizer/bpe.js';
import { utf8Bytes } from '../../src/tokenizer/byte-level.js';
import { deepseekTokenizerConfig } from '../../src/tokenizer/init-files.js';
import { saveTokenizer, trainBpe } from '../../src/tokenizer/train.js';
import { learnMerges, learnMergesNaive, type WordTable } from '../../src/tokenizer/train-merges.js';
import { loadDocuments, splitDocuments } from '../../src/train/data.js';
import { mixedText, rng, wellFormed } from './mixed-text.js';

interface Json { added_tokens: { id: number; content: string; special: boolean }[]; model: { vocab: Record<string, number>; merges: [string, string][] } }
const N_SPECIAL = 14;

/** A word table from {word: count}, words as their UTF-8 bytes. */
const table = (counts: Record<string, number>): WordTable => ({
  symbols: Object.keys(counts).map((w) => utf8Bytes(w, [])),
  counts: Object.values(counts),
});
const named = (r: { merges: [number, number][]; tokens: string[] }) => r.merges.map(([a, b]) => [r.tokens[a], r.tokens[b]]);

test('first merges worked out by hand (word table)', () => {
  // hug 10, pug 5, pun 12, bun 4, hugs 5: "ug" 20, then "un" 16, then "h"+"ug" 15, then "p"+"un" 12.
  const r = learnMerges(table({ hug: 10, pug: 5, pun: 12, bun: 4, hugs: 5 }), 4);
  assert.deepEqual(named(r), [['u', 'g'], ['u', 'n'], ['h', 'ug'], ['p', 'un']]);
  assert.deepEqual(r.tokens.slice(256), ['ug', 'un', 'hug', 'pun']);
});

test('first merges worked out by hand (trainBpe, with the pre-tokenizer and ties)', () => {
  // Pre-tokens "aaab", " aaab", " aab". a+a: 2 + 2 + 1 = 5. Then (Ġ,aa), (aa,a), (a,b) all occur twice:
  // ties go to the smallest left id (Ġ = 32 < a = 97 < aa = 256), so Ġ+aa, then a+b.
  const { json } = trainBpe(['aaab aaab aab'], 256 + N_SPECIAL + 3);
  const j = json as Json;
  assert.deepEqual(j.model.merges, [['a', 'a'], ['Ġ', 'aa'], ['a', 'b']]);
  assert.equal(j.model.vocab['Ġaa'], 257);
  const ours = Tokenizer.fromJSON(json);
  assert.deepEqual(ours.encode('aaab'), [256, 258]);
});

test('the incremental learner agrees with the naive one on random word tables', () => {
  const rand = rng(5);
  for (let trial = 0; trial < 20; trial++) {
    const counts: Record<string, number> = {};
    const alphabet = trial % 2 === 0 ? 'ab' : 'abcde';
    for (let w = 0; w < 30; w++) {
      let word = '';
      const len = 1 + Math.floor(rand() * 9);
      for (let i = 0; i < len; i++) word += alphabet[Math.floor(rand() * alphabet.length)];
      counts[word] = (counts[word] ?? 0) + 1 + Math.floor(rand() * 4);
    }
    const t = table(counts);
    for (const n of [1, 10, 60]) {
      const fast = learnMerges(t, n);
      assert.deepEqual(fast, learnMergesNaive(t, n), `trial ${trial}, ${n} tokens`);
    }
  }
});

// One tokenizer trained on Brown's train split, shared by the tests below.
const VOCAB = 4096;
const { train, val } = splitDocuments(loadDocuments().documents, 0.1, 1234);
const trained = trainBpe(train, VOCAB);
const json = trained.json as Json;
const ours = Tokenizer.fromJSON(trained.json, 'trained tokenizer.json');
const hf = new HfTokenizer(trained.json, deepseekTokenizerConfig());
const hfIds = (text: string) => hf.encode(text, { add_special_tokens: false }).ids;

test('vocabulary: exactly vocabSize ids, bytes first, specials at the end', () => {
  assert.equal(ours.vocabSize, VOCAB);
  assert.equal(trained.merges, VOCAB - 256 - N_SPECIAL);
  const ids = [...Object.values(json.model.vocab), ...json.added_tokens.map((t) => t.id)].sort((a, b) => a - b);
  assert.deepEqual(ids, Array.from({ length: VOCAB }, (_, i) => i));
  assert.deepEqual(json.added_tokens.map((t) => t.id), Array.from({ length: N_SPECIAL }, (_, i) => VOCAB - N_SPECIAL + i));
  assert.equal(trained.bosId, VOCAB - N_SPECIAL);
  assert.equal(trained.eosId, VOCAB - N_SPECIAL + 1);
  assert.equal(ours.idToToken(trained.eosId), '<｜end▁of▁sentence｜>');
  assert.equal(json.model.vocab['A'], 0x41);
  assert.ok(json.model.vocab['Ġthe']! < 300, 'Ġthe is among the first merges');
  for (const t of json.added_tokens) {
    assert.deepEqual(ours.encode(t.content), [t.id], t.content);
    assert.deepEqual(hfIds(t.content), [t.id], t.content);
  }
});

test('ours and @huggingface/tokenizers give identical ids on held-out Brown text and mixed text; round trip', () => {
  const heldOut = val.slice(0, 8).join('\n\n');
  const texts = [heldOut, mixedText(30_000, 9), 'Hello<｜User｜>x<｜end▁of▁sentence｜> 12345 "quoted," he said.'];
  for (const text of texts) {
    const ids = ours.encode(text);
    const ref = hfIds(text);
    const firstDiff = ids.findIndex((id, i) => id !== ref[i]);
    assert.equal(firstDiff, -1, `first differing id at ${firstDiff}`);
    assert.equal(ids.length, ref.length);
    assert.equal(ours.decode(ids), wellFormed(text));
  }
  const ids = ours.encode(heldOut);
  assert.ok(Buffer.byteLength(heldOut) / ids.length > 3, `bytes per token ${Buffer.byteLength(heldOut) / ids.length}`);
});

test('a corpus that runs out of pairs: fewer merges, the size stays exact, HF agrees', () => {
  const small = trainBpe(['ab ab abc'], 400);
  assert.ok(small.merges < 400 - 256 - N_SPECIAL, `merges ${small.merges}`);
  const t = Tokenizer.fromJSON(small.json);
  assert.equal(t.vocabSize, 400);
  assert.equal(small.eosId, 400 - N_SPECIAL + 1);
  const h = new HfTokenizer(small.json, deepseekTokenizerConfig());
  for (const text of ['ab abc abd', 'zzz<｜end▁of▁sentence｜>']) assert.deepEqual(t.encode(text), h.encode(text, { add_special_tokens: false }).ids, text);
});

test('errors: vocabulary too small for bytes + specials, empty corpus', () => {
  assert.throws(() => trainBpe(['text'], 269), /trainBpe: vocab_size 269 is too small; it needs 270 \(256 bytes \+ 14 special tokens\)/);
  assert.throws(() => trainBpe([], 1000), /trainBpe: the corpus is empty/);
  assert.throws(() => trainBpe(['', ''], 1000), /trainBpe: the corpus is empty/);
});

const dir = mkdtempSync(join(tmpdir(), 'qiusuo-tok-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('saveTokenizer writes tokenizer.json and tokenizer_config.json that load back', () => {
  const out = join(dir, 'nested', 'tok');
  saveTokenizer(out, trained.json);
  assert.deepEqual(readdirSync(out).sort(), ['tokenizer.json', 'tokenizer_config.json']);
  const loaded = Tokenizer.fromFile(join(out, 'tokenizer.json'));
  const text = val[0]!.slice(0, 2000);
  assert.deepEqual(loaded.encode(text), ours.encode(text));
  const config = JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8'));
  assert.deepEqual(config, deepseekTokenizerConfig());
  saveTokenizer(out, trained.json); // overwriting works and leaves no temp files
  assert.deepEqual(readdirSync(out).sort(), ['tokenizer.json', 'tokenizer_config.json']);
  assert.ok(existsSync(join(out, 'tokenizer.json')), 'still there');
});
