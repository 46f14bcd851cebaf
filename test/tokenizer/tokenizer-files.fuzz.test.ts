// Fuzzes the tokenizer files: tokenizer.json (vocab, merges, added tokens, normalizer, pre-tokenizer, post-processor,
// decoder) and tokenizer_config.json (chat template, bos/eos), each read from a file, mutated as values and as text,
// with deeply nested Sequences, and built from scratch. A file either loads, and then encodes text into ids it can
// decode (and the template renders), or fails with one line naming the file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertCleanError, fc, fuzz, parsedOrRefused } from '../fuzz/harness.js';
import { scratchDir } from '../fuzz/scratch-dir.js';
import { mutatedBytes, mutatedJsonText, mutatedJsonValue, pathsOf, wrongValue } from '../fuzz/mutators.js';
import { Tokenizer } from '../../src/tokenizer/bpe.js';
import { ChatTemplate } from '../../src/tokenizer/chat.js';
import { BYTE_TO_CHAR } from '../../src/tokenizer/byte-level.js';
import { byteLevelTokenizerJson, deepseekTokenizerConfig } from '../../src/tokenizer/init-files.js';

const dir = scratchDir('qiusuo-tok-fuzz-');
const tokenizerFile = path.join(dir, 'tokenizer.json');
const configFile = path.join(dir, 'tokenizer_config.json');

/** `qiusuo init`'s byte-level tokenizer.json, plus merges, a normalizer and a template post-processor to mutate. */
function seedTokenizer(): Record<string, any> {
  const j = structuredClone(byteLevelTokenizerJson(300).json) as Record<string, any>;
  const g = BYTE_TO_CHAR[0x20]!;
  const merged = [[g, 't'], ['h', 'e'], [`${g}t`, 'he'], ['t', 'h'], ['1', '2']];
  merged.forEach(([a, b], i) => { j.model.vocab[a! + b!] = 300 + i; });
  j.model.merges = merged.map(([a, b], i) => (i % 2 ? `${a} ${b}` : [a, b]));
  j.normalizer = { type: 'Sequence', normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { String: '\t' }, content: ' ' }] };
  j.post_processor = {
    type: 'TemplateProcessing', single: [{ SpecialToken: { id: 'bos', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    special_tokens: { bos: { id: 'bos', ids: [256], tokens: ['bos'] } },
  };
  return j;
}
const TOKENIZER = seedTokenizer();
const TEXTS = ['Hello the world 123 你好!', '<｜User｜>hi<｜Assistant｜>', ' \n\t  x', '\ud800 lone', 'thethe 12 12'];
const SEED = Tokenizer.fromJSON(TOKENIZER);

/** `mergesOnly`: the file is the seed with other merges, so it must decode what it encodes as the seed does. */
function tokenizerCase(text: string, mergesOnly = false): void {
  fs.writeFileSync(tokenizerFile, text);
  parsedOrRefused(() => Tokenizer.fromFile(tokenizerFile), tokenizerFile, (tok) => {
    for (const t of TEXTS) {
      const ids = tok.encode(t, { addSpecialTokens: true });
      for (const id of ids) assert.ok(Number.isInteger(id) && id >= 0 && id < tok.vocabSize && tok.idToToken(id) !== undefined, `id ${id}`);
      const decoded = tok.decode(ids);
      // Merges only change how text is split, never the text.
      if (mergesOnly) assert.equal(decoded, SEED.decode(SEED.encode(t, { addSpecialTokens: true })));
    }
  });
}

/** Paths to mutate: every one outside the vocab (the pipeline), plus a few vocab entries. */
const TOKENIZER_PATHS = pathsOf(TOKENIZER).filter((p) => p[1] !== 'vocab' || p.length < 3 || ['a', 'Ġt', 'the'].includes(String(p[2])));

test('tokenizer.json: mutated values (wrong types, huge ids, removed keys) and merges of any tokens', async () => {
  const cases = mutatedJsonValue(TOKENIZER, TOKENIZER_PATHS).map((v) => JSON.stringify(v) ?? 'null');
  // Merges of tokens the texts contain, in any order, some of whose results are missing from the vocab.
  const piece = fc.constantFrom('H', 'e', 'l', 'o', 't', 'h', '1', '2', 'Ġ', 'Ġt', 'he', 'th', 'll', 'xyz');
  const merges = fc.array(fc.oneof(fc.tuple(piece, piece), fc.tuple(piece, piece).map(([a, b]) => `${a} ${b}`)), { maxLength: 8 })
    .map((m) => JSON.stringify({ ...TOKENIZER, model: { ...TOKENIZER.model, merges: m } }));
  await fuzz('tokenizer.json (values)', fc.oneof({ arbitrary: cases.map((t) => [t, false] as const), weight: 3 }, merges.map((t) => [t, true] as const)), ([t, mergesOnly]) => tokenizerCase(t, mergesOnly));
});

test('tokenizer.json: mutated text (truncated, flipped, duplicate keys, huge numbers, deep nesting)', async () => {
  await fuzz('tokenizer.json (text)', mutatedJsonText(JSON.stringify(TOKENIZER, null, 1)), (t) => tokenizerCase(t));
});

test('tokenizer.json: Sequences nested thousands deep, and pipelines built from scratch', async () => {
  const key = { pre_tokenizer: 'pretokenizers', normalizer: 'normalizers', post_processor: 'processors' } as const;
  const fields = Object.keys(key) as (keyof typeof key)[];
  const INNER = Object.fromEntries(fields.map((f) => [f, JSON.stringify(TOKENIZER[f])]));
  const OUTER = Object.fromEntries(fields.map((f) => [f, JSON.stringify({ ...TOKENIZER, [f]: '@@' })])); // the file around the nest
  const deep = fc.record({ field: fc.constantFrom(...fields), depth: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 200 }), weight: 20 }, { arbitrary: fc.integer({ min: 5_000, max: 12_000 }), weight: 1 }) })
    .map(({ field, depth }) => {
      const nest = `${`{"type":"Sequence","${key[field]}":[`.repeat(depth)}${INNER[field]}${']}'.repeat(depth)}`;
      return OUTER[field].replace('"@@"', () => nest);
    });
  const step = fc.oneof(
    fc.record({ type: fc.constantFrom('Split', 'ByteLevel', 'Sequence', 'NFC', 'NFKD', 'Lowercase', 'Prepend', 'Replace', 'TemplateProcessing', 'BertProcessing', 'Metaspace'),
      pattern: fc.option(fc.record({ Regex: fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom('\\p{L}+', '(?>a|b)', '[[a]]', 'a++', '\\', '(')) })),
      behavior: fc.option(fc.constantFrom('Isolated', 'Removed', 'Contiguous', 'MergedWithNext', 'MergedWithPrevious', 'Nope')),
      invert: fc.option(fc.boolean()), use_regex: fc.option(fc.boolean()), add_prefix_space: fc.option(fc.boolean()),
      prepend: fc.option(wrongValue()), content: fc.option(wrongValue()), single: fc.option(wrongValue()), cls: fc.option(wrongValue()), sep: fc.option(wrongValue()),
      pretokenizers: fc.option(wrongValue()), normalizers: fc.option(wrongValue()), processors: fc.option(wrongValue()) },
    { requiredKeys: ['type'] }),
    wrongValue(),
  );
  const added = fc.array(fc.record({ id: fc.oneof(fc.integer({ min: 0, max: 320 }), wrongValue()), content: fc.oneof(fc.string({ maxLength: 5 }), wrongValue()),
    special: fc.boolean(), normalized: fc.boolean(), lstrip: fc.boolean(), rstrip: fc.boolean(), single_word: fc.boolean() }), { maxLength: 4 });
  const scratch = fc.record({
    pre: fc.oneof(step, fc.array(step, { maxLength: 3 }).map((s) => ({ type: 'Sequence', pretokenizers: [...s, { type: 'ByteLevel', use_regex: false }] }))),
    norm: fc.option(step), post: fc.option(step), added,
    vocab: fc.dictionary(fc.string({ maxLength: 3 }), fc.oneof(fc.integer({ min: 0, max: 400 }), wrongValue()), { maxKeys: 6 }),
    merges: fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.tuple(fc.string({ maxLength: 2 }), fc.string({ maxLength: 2 })), wrongValue()), { maxLength: 4 }),
  }).map((s) => JSON.stringify({
    ...TOKENIZER, pre_tokenizer: s.pre, normalizer: s.norm, post_processor: s.post, added_tokens: [...TOKENIZER.added_tokens, ...s.added],
    model: { ...TOKENIZER.model, vocab: { ...TOKENIZER.model.vocab, ...s.vocab }, merges: [...TOKENIZER.model.merges, ...s.merges] },
  }));
  await fuzz('tokenizer.json (nesting, from scratch)', fc.oneof(deep, scratch), (t) => tokenizerCase(t));
});

const CONFIG = deepseekTokenizerConfig() as Record<string, unknown>;
const MESSAGES = [{ role: 'system' as const, content: 's' }, { role: 'user' as const, content: 'hi' }, { role: 'assistant' as const, content: 'yo' }];

function configCase(text: string): void {
  fs.writeFileSync(configFile, text);
  parsedOrRefused(() => ChatTemplate.fromFile(configFile), configFile, (chat) => {
    try {
      assert.equal(typeof chat.render(MESSAGES, { addGenerationPrompt: true }), 'string');
    } catch (e) {
      // The Jinja engine's runtime errors ("'UndefinedValue' object is not iterable", "Cannot call something that is
      // not a function") read like JS internals but are its reports on the template; its real internal failures
      // (TypeError, RangeError) chat.ts names as a malformed template, which assertCleanError checks.
      const jinja = /^Cannot call something that is not a function|object is not iterable\)$/;
      if (e instanceof Error && !(e instanceof TypeError) && jinja.test(e.message.slice(e.message.indexOf('(') + 1))) {
        assert.ok(e.message.startsWith(`${configFile}: chat_template failed to render (`) && !e.message.includes('\n'), e.message);
      } else {
        assertCleanError(e, configFile);
      }
    }
  });
}

test('tokenizer_config.json: mutated values and text', async () => {
  const asValue = mutatedJsonValue(CONFIG).map((v) => JSON.stringify(v) ?? 'null');
  await fuzz('tokenizer_config.json (values, text)', fc.oneof(asValue, mutatedJsonText(JSON.stringify(CONFIG, null, 2))), configCase);
});

test('tokenizer_config.json: chat templates mutated (truncated, spliced, flipped) and from scratch', async () => {
  const template = String(CONFIG.chat_template);
  const pieces = ['{%', '%}', '{{', '}}', '{#', 'for m in messages', 'endfor', 'if', 'endif', 'set x = ', "message['content']", '|', '(', ')', '[', ']', "'", 'raise_exception("no")', 'namespace(', 'range(3)', '-', '.', 'x'];
  const mutated = mutatedBytes(Buffer.from(template)).map((b) => Buffer.from(b).toString('utf8'));
  const scratch = fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ maxLength: 3 })), { maxLength: 24 }).map((p) => p.join(''));
  await fuzz('tokenizer_config.json (chat_template)', fc.oneof(mutated, scratch), (t) => configCase(JSON.stringify({ ...CONFIG, chat_template: t })));
});
