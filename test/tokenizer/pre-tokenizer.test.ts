// Pre-tokenizer building blocks: the five Split behaviours (and invert), ByteLevel with its GPT-2 regex and
// prefix space, Sequence ordering, and the errors for unsupported steps. Leaves out: BPE (bpe-units.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPreTokenizer, splitText } from '../../src/tokenizer/pre-tokenizer.js';
import { literalRegex } from '../../src/tokenizer/onig-regex.js';
import { buildNormalizer } from '../../src/tokenizer/normalizer.js';
import { buildPostProcessor } from '../../src/tokenizer/post-processor.js';

const run = (json: unknown, text: string) => {
  const out: string[] = [];
  buildPreTokenizer(json, 'test').run(text, out);
  return out;
};

test('Split behaviours on "a-b--c" around "-"', () => {
  const table = [
    { behavior: 'Isolated', invert: false, expect: ['a', '-', 'b', '-', '-', 'c'] },
    { behavior: 'Removed', invert: false, expect: ['a', 'b', 'c'] },
    { behavior: 'MergedWithPrevious', invert: false, expect: ['a-', 'b-', '-', 'c'] },
    { behavior: 'MergedWithNext', invert: false, expect: ['a', '-b', '-', '-c'] },
    { behavior: 'Contiguous', invert: false, expect: ['a', '-', 'b', '--', 'c'] },
    { behavior: 'Removed', invert: true, expect: ['-', '-', '-'] },
    { behavior: 'MergedWithPrevious', invert: true, expect: ['a', '-b', '-', '-c'] },
  ] as const;
  for (const { behavior, invert, expect } of table) {
    const out: string[] = [];
    splitText('a-b--c', literalRegex('-'), behavior, invert, out);
    assert.deepEqual(out, expect, `${behavior} invert=${invert}`);
    assert.deepEqual(run({ type: 'Split', pattern: { String: '-' }, behavior, invert }, 'a-b--c'), expect);
  }
});

test('ByteLevel: GPT-2 regex when use_regex, prefix space when add_prefix_space', () => {
  const table = [
    { cfg: { add_prefix_space: false, use_regex: true }, text: "Hello world's 123!!  x", expect: ['Hello', ' world', "'s", ' 123', '!!', ' ', ' x'] },
    { cfg: { add_prefix_space: true, use_regex: true }, text: 'Hi there', expect: [' Hi', ' there'] },
    { cfg: { add_prefix_space: true, use_regex: true }, text: ' Hi', expect: [' Hi'] },
    { cfg: { add_prefix_space: false, use_regex: false }, text: 'a b  c', expect: ['a b  c'] },
  ];
  for (const { cfg, text, expect } of table) assert.deepEqual(run({ type: 'ByteLevel', ...cfg }, text), expect, JSON.stringify(cfg));
});

test('Sequence applies steps in order, each to every piece of the previous one', () => {
  const seq = {
    type: 'Sequence',
    pretokenizers: [
      { type: 'Split', pattern: { Regex: '\\p{N}{1,3}' }, behavior: 'Isolated', invert: false },
      { type: 'Split', pattern: { String: ' ' }, behavior: 'Removed', invert: false },
      { type: 'ByteLevel', add_prefix_space: false, use_regex: false },
    ],
  };
  assert.deepEqual(run(seq, 'ab 12345 c'), ['ab', '123', '45', 'c']);
  assert.equal(buildPreTokenizer(seq, 'test').byteLevel, true);
  assert.deepEqual(run(seq, ''), []);
});

test('Sequences nested past 64 deep are refused, not a stack overflow; a bad regex names its place (found by fuzzing)', () => {
  let deep: unknown = { type: 'ByteLevel' };
  for (let i = 0; i < 10_000; i++) deep = { type: 'Sequence', pretokenizers: [deep] };
  assert.throws(() => buildPreTokenizer(deep, 'f.json: pre_tokenizer'), /: f\.json: pre_tokenizer(\.pretokenizers\[0\]){64}: Sequence pre-tokenizers nested more than 64 deep$/);
  let deepNorm: unknown = { type: 'NFC' };
  for (let i = 0; i < 10_000; i++) deepNorm = { type: 'Sequence', normalizers: [deepNorm] };
  assert.throws(() => buildNormalizer(deepNorm, 'n'), /Sequence normalizers nested more than 64 deep$/);
  let deepPost: unknown = { type: 'ByteLevel' };
  for (let i = 0; i < 10_000; i++) deepPost = { type: 'Sequence', processors: [deepPost] };
  assert.throws(() => buildPostProcessor(deepPost, 'p'), /Sequence post-processors nested more than 64 deep$/);
  assert.throws(() => buildPreTokenizer({ type: 'Split', pattern: { Regex: '(' }, behavior: 'Isolated' }, 'f.json: pre_tokenizer'),
    /: f\.json: pre_tokenizer: regex "\(": unsupported Oniguruma construct unbalanced "\("$/);
});

test('unsupported pre-tokenizers and misplaced ByteLevel are errors naming the place', () => {
  assert.throws(() => buildPreTokenizer({ type: 'Whitespace' }, 'f.json: pre_tokenizer'), /f\.json: pre_tokenizer: unsupported pre-tokenizer type "Whitespace"/);
  assert.throws(() => buildPreTokenizer({ type: 'Split', pattern: { String: 'x' }, behavior: 'Weird' }, 'p'), /unsupported Split behavior "Weird"/);
  assert.throws(
    () => buildPreTokenizer({ type: 'Sequence', pretokenizers: [{ type: 'ByteLevel' }, { type: 'Split', pattern: { String: 'x' }, behavior: 'Isolated' }] }, 'p'),
    /ByteLevel must be the last/,
  );
});
