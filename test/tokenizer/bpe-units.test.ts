// Tokenizer pieces on small hand-made tokenizer.json files: byte alphabet, UTF-8, merge order, both merge
// formats, added-token flags, TemplateProcessing, normalizers, and load/decode errors with clear messages.
// Leaves out: parity with @huggingface/tokenizers on DeepSeek-V3's real file (bpe-parity.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '../../src/tokenizer/bpe.js';
import { BYTE_TO_CHAR, CHAR_TO_BYTE, utf8Bytes } from '../../src/tokenizer/byte-level.js';
import { byteLevelTokenizerJson } from '../../src/tokenizer/init-files.js';

/** A byte-level tokenizer (bytes = ids 0..255, DeepSeek specials 256..269) with extra tokens and merges. */
function tiny(extra: string[], merges: unknown[], patch: (j: Record<string, any>) => void = () => {}): Tokenizer {
  const j = structuredClone(byteLevelTokenizerJson(300).json) as Record<string, any>;
  extra.forEach((tok, i) => { j.model.vocab[tok] = 300 + i; });
  j.model.merges = merges;
  patch(j);
  return Tokenizer.fromJSON(j, 'tiny.json');
}
const b = (ch: string) => ch.charCodeAt(0); // id of an ASCII byte in tiny()

test('byte alphabet: printable bytes are themselves, the rest shift to U+0100..', () => {
  const table: [number, string][] = [[0x21, '!'], [0x41, 'A'], [0x00, 'Ā'], [0x0a, 'Ċ'], [0x20, 'Ġ'], [0x7f, 'ġ'], [0xa0, 'ł'], [0xad, 'Ń'], [0xff, 'ÿ']];
  for (const [byte, ch] of table) assert.equal(BYTE_TO_CHAR[byte], ch, `byte ${byte}`);
  assert.equal(CHAR_TO_BYTE.size, 256);
});

test('utf8Bytes equals TextEncoder, lone surrogates included', () => {
  for (const s of ['', 'a', 'é€', '😀', 'a\ud800b', '\udc00', '\ud83d\ude00\ud83d']) {
    assert.deepEqual(utf8Bytes(s, []), [...new TextEncoder().encode(s)], JSON.stringify(s));
  }
});

test('merges apply by rank, leftmost first among equal ranks', () => {
  const table: { merges: string[]; text: string; expect: number[] }[] = [
    { merges: ['a b', 'b c'], text: 'abc', expect: [300, b('c')] },         // "ab" ranks first
    { merges: ['b c', 'a b'], text: 'abc', expect: [b('a'), 301] },         // "bc" ranks first
    { merges: ['a a'], text: 'aaa', expect: [302, b('a')] },                // leftmost pair wins the tie
    { merges: ['a a', 'aa a'], text: 'aaa', expect: [303] },
    { merges: ['a b', 'b c'], text: 'x', expect: [b('x')] },
    { merges: ['Ġ a'], text: 'a a', expect: [b('a'), 304] },                 // space is the byte symbol Ġ
  ];
  for (const { merges, text, expect } of table) {
    const tok = tiny(['ab', 'bc', 'aa', 'aaa', 'Ġa'], merges);
    assert.deepEqual(tok.encode(text), expect, `${merges.join(',')} on ${text}`);
    assert.equal(tok.decode(expect), text);
  }
});

test('merges given as [a, b] pairs give the same ids as "a b" strings', () => {
  const strings = tiny(['ab', 'abab'], ['a b', 'ab ab']);
  const pairs = tiny(['ab', 'abab'], [['a', 'b'], ['ab', 'ab']]);
  for (const text of ['ababab', 'abba', 'xab ab']) assert.deepEqual(pairs.encode(text), strings.encode(text));
  assert.deepEqual(pairs.encode('ababab'), [301, 300]);
});

test('heap merge loop equals the naive scan on random words', () => {
  const tok = tiny(['ab', 'ba', 'aa', 'abab', 'aab', 'bb'], ['a b', 'b a', 'a a', 'ab ab', 'aa b', 'b b']);
  const model = (tok as unknown as { model: { mergeScan(ids: number[]): number[]; mergeHeap(ids: number[]): number[] } }).model;
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
  for (let trial = 0; trial < 300; trial++) {
    const n = 1 + Math.floor(rand() * 80);
    const ids = Array.from({ length: n }, () => (rand() < 0.5 ? b('a') : b('b')));
    assert.deepEqual(model.mergeHeap(ids), model.mergeScan([...ids]), String.fromCharCode(...ids));
  }
});

test('added tokens: lstrip / rstrip swallow whitespace, single_word needs word boundaries', () => {
  const tok = tiny([], [], (j) => {
    j.added_tokens.push(
      { id: 290, content: '<L>', special: true, lstrip: true, rstrip: false, single_word: false, normalized: false },
      { id: 291, content: '<R>', special: true, lstrip: false, rstrip: true, single_word: false, normalized: false },
      { id: 292, content: 'cat', special: false, lstrip: false, rstrip: false, single_word: true, normalized: true },
    );
  });
  const sp = b(' ');
  const table: { text: string; expect: number[] }[] = [
    { text: 'a  <L> b', expect: [b('a'), 290, sp, b('b')] },
    { text: 'a <R>  b', expect: [b('a'), sp, 291, b('b')] },
    { text: 'a cat b', expect: [b('a'), sp, 292, sp, b('b')] },
    { text: 'concat', expect: [...'concat'].map(b) },
  ];
  for (const { text, expect } of table) assert.deepEqual(tok.encode(text), expect, JSON.stringify(text));
  assert.equal(tok.vocabSize, 293); // max id 292 + 1
});

test('TemplateProcessing adds BOS only when addSpecialTokens is set', () => {
  const tok = tiny([], [], (j) => {
    j.post_processor = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<｜begin▁of▁sentence｜>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [],
      special_tokens: { '<｜begin▁of▁sentence｜>': { id: '<｜begin▁of▁sentence｜>', ids: [256], tokens: ['<｜begin▁of▁sentence｜>'] } },
    };
  });
  assert.deepEqual(tok.encode('hi', { addSpecialTokens: true }), [256, b('h'), b('i')]);
  assert.deepEqual(tok.encode('hi'), [b('h'), b('i')]);
  assert.equal(tok.decode([256, b('h')], { skipSpecialTokens: true }), 'h');
});

test('normalizer runs before pre-tokenization, after raw added tokens are cut out', () => {
  const tok = tiny([], [], (j) => { j.normalizer = { type: 'Sequence', normalizers: [{ type: 'Lowercase' }, { type: 'NFKC' }] }; });
  assert.deepEqual(tok.encode('AB<｜begin▁of▁sentence｜>ﬁ'), [b('a'), b('b'), 256, b('f'), b('i')]);
});

test('loading errors name the file and the problem', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qiusuo-tok-'));
  const bad = join(dir, 'broken.json');
  writeFileSync(bad, '{"model": {');
  assert.throws(() => Tokenizer.fromFile(bad), (e: Error) => e.message.startsWith(bad) && /not valid JSON/.test(e.message));
  assert.throws(() => Tokenizer.fromFile(join(dir, 'missing.json')), /missing\.json: cannot read/);
  const table: { patch: (j: Record<string, any>) => void; error: RegExp }[] = [
    { patch: (j) => { j.model.type = 'WordPiece'; }, error: /tiny\.json: unsupported model type "WordPiece"/ },
    { patch: (j) => { j.model.merges = ['a b c']; }, error: /merges\[0\] "a b c" is not "a b"/ },
    { patch: (j) => { j.model.merges = ['a zz']; }, error: /merge 0 \["a","zz"\] uses a token missing from the vocab/ },
    { patch: (j) => { j.model.vocab.x = -3; }, error: /model\.vocab\["x"\]/ },
    { patch: (j) => { j.decoder = { type: 'Metaspace' }; }, error: /unsupported decoder "Metaspace"/ },
    { patch: (j) => { j.pre_tokenizer = null; }, error: /only byte-level BPE/ },
    { patch: (j) => { j.normalizer = { type: 'Precompiled' }; }, error: /normalizer: unsupported normalizer type "Precompiled"/ },
    { patch: (j) => { j.post_processor = { type: 'Weird' }; }, error: /unsupported post_processor type "Weird"/ },
    { patch: (j) => { j.added_tokens.push({ id: 'x', content: 'y' }); }, error: /added_tokens\[14\]/ },
  ];
  for (const { patch, error } of table) assert.throws(() => tiny([], [], patch), error);
  assert.throws(() => Tokenizer.fromJSON([], 'arr.json'), /arr\.json: expected a JSON object/);
});

test('loading errors found by fuzzing: each is one line naming the file and the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qiusuo-tok-'));
  const multiLine = join(dir, 'lines.json');
  writeFileSync(multiLine, '{\n"model": x\n}');
  assert.throws(() => Tokenizer.fromFile(multiLine), (e: Error) => e.message.startsWith(`${multiLine}: not valid JSON (`) && !e.message.includes('\n'));
  let deepSequence: unknown = { type: 'ByteLevel' };
  for (let i = 0; i < 10_000; i++) deepSequence = { type: 'Sequence', pretokenizers: [deepSequence] };
  const template = { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A' } }], special_tokens: {} };
  const table: { patch: (j: Record<string, any>) => void; error: RegExp }[] = [
    { patch: (j) => { j.post_processor = { ...template, single: [null] }; }, error: /tiny\.json: post_processor: single template piece 0 must be an object/ },
    { patch: (j) => { j.post_processor = { ...template, single: [{ SpecialToken: { id: 'x' } }], special_tokens: { x: { ids: [5000] } } }; }, error: /post_processor adds token id 5000, which is neither in model\.vocab nor in added_tokens/ },
    { patch: (j) => { j.model.vocab.huge = 2 ** 32; }, error: /model\.vocab\["huge"\] is id 4294967296; ids must be below 16777216/ },
    { patch: (j) => { j.added_tokens[0].id = 2 ** 40; }, error: /added_tokens\[0\] has id 1099511627776; ids must be below 16777216/ },
    { patch: (j) => { j.pre_tokenizer = deepSequence; }, error: /pre_tokenizer(\.pretokenizers\[0\])+: Sequence pre-tokenizers nested more than 64 deep/ },
    { patch: (j) => { j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '(?i)a' }, behavior: 'Isolated' }, { type: 'ByteLevel' }] }; }, error: /tiny\.json: pre_tokenizer\.pretokenizers\[0\]: regex "\(\?i\)a": unsupported/ },
  ];
  for (const { patch, error } of table) {
    assert.throws(() => tiny([], [], patch), (e: Error) => { assert.match(e.message, error); assert.ok(!e.message.includes('\n')); return true; });
  }
});

test('decode: ids outside the vocabulary or in a hole are errors', () => {
  const tok = tiny([], []);
  assert.equal(tok.vocabSize, 270);
  assert.throws(() => tok.decode([b('a'), 270]), /token id 270 is outside the vocabulary \(vocab size 270\)/);
  assert.throws(() => tok.decode([1.5]), /token id 1\.5 /);
  assert.equal(tok.idToToken(270), undefined);
  assert.equal(tok.tokenToId('nope'), undefined);
});
