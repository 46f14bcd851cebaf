// Our Tokenizer against @huggingface/tokenizers on DeepSeek-V3's real tokenizer.json: identical ids on a table
// of hard cases and a 200+ KB mixed text, decode(encode(x)) round trips, streaming decode equals decode.
// Leaves out: hand-made tokenizers and error cases (bpe-units.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Tokenizer } from '../../src/tokenizer/bpe.js';
import { BYTE_TO_CHAR } from '../../src/tokenizer/byte-level.js';
import { CASES, mixedText, wellFormed } from './mixed-text.js';
import { TOKENIZER_JSON_PATH, tokenizerConfig, tokenizerJson } from './deepseek-files.js';

const ours = Tokenizer.fromJSON(tokenizerJson, TOKENIZER_JSON_PATH);
const hf = new HfTokenizer(tokenizerJson as object, tokenizerConfig);
const hfIds = (text: string) => hf.encode(text, { add_special_tokens: false }).ids;

test('vocabulary shape matches DeepSeek-V3', () => {
  assert.equal(ours.vocabSize, 128815);
  assert.equal(ours.tokenToId('<｜begin▁of▁sentence｜>'), 0);
  assert.equal(ours.tokenToId('<｜end▁of▁sentence｜>'), 1);
  assert.equal(ours.tokenToId('<｜User｜>'), 128803);
  assert.equal(ours.idToToken(19923), 'Hello');
  assert.equal(ours.idToToken(2058), 'Ġworld');
  assert.equal(ours.isSpecial(0), true);
  assert.equal(ours.isSpecial(128803), false); // <｜User｜> is an added token but not special
  assert.equal(ours.isSpecial(19923), false);
});

test('known ids', () => {
  const table: { text: string; ids: number[] }[] = [
    { text: 'Hello world', ids: [19923, 2058] },
    { text: '1234567', ids: [6895, 18009, 25] },
    { text: 'Hello<｜User｜>x<｜begin▁of▁sentence｜>', ids: [19923, 128803, 90, 0] },
    { text: '   ', ids: [361] },
  ];
  for (const { text, ids } of table) assert.deepEqual(ours.encode(text), ids, JSON.stringify(text));
});

for (const { name, text } of CASES) {
  test(`same ids as @huggingface/tokenizers: ${name}`, () => {
    const ids = ours.encode(text);
    assert.deepEqual(ids, hfIds(text));
    assert.equal(ours.decode(ids), wellFormed(text));
    if (ids.length > 0) assert.equal(ours.decode(ids), hf.decode(ids));
  });
}

test('same ids on a 256 KB seeded mixed text, and round trip', () => {
  const text = mixedText(256 * 1024, 7);
  assert.ok(text.length >= 256 * 1024);
  const ids = ours.encode(text);
  const ref = hfIds(text);
  assert.equal(ids.length, ref.length);
  const firstDiff = ids.findIndex((id, i) => id !== ref[i]);
  assert.equal(firstDiff, -1, `first differing id at ${firstDiff}`);
  assert.equal(ours.decode(ids), wellFormed(text));
  // A second encode hits the pre-token cache and must not change anything.
  assert.deepEqual(ours.encode(text), ids);
});

test('addSpecialTokens follows the ByteLevel post-processor: nothing is added', () => {
  assert.deepEqual(ours.encode('Hi', { addSpecialTokens: true }), hf.encode('Hi', { add_special_tokens: true }).ids);
  assert.deepEqual(ours.encode('Hi', { addSpecialTokens: true }), ours.encode('Hi'));
});

test('skipSpecialTokens drops special ids only (not <｜User｜>)', () => {
  const ids = ours.encode('<｜begin▁of▁sentence｜>a<｜User｜>b<｜end▁of▁sentence｜>');
  assert.equal(ours.decode(ids, { skipSpecialTokens: true }), 'a<｜User｜>b');
  assert.equal(ours.decode(ids, { skipSpecialTokens: true }), hf.decode(ids, { skip_special_tokens: true }));
});

test('stream decoder emits whole characters and concatenates to decode()', () => {
  const text = CASES.map((c) => c.text).join(' ');
  const ids = ours.encode(text);
  const dec = ours.streamDecoder();
  let streamed = '';
  for (const id of ids) {
    const delta = dec.push(id);
    assert.ok(!/[\ud800-\udbff]$/.test(delta), 'a delta never ends inside a surrogate pair');
    streamed += delta;
  }
  streamed += dec.flush();
  assert.equal(streamed, ours.decode(ids));
  // "😀" is four bytes spread over several byte tokens: nothing comes out until the last one.
  const emojiIds = ours.encode('😀');
  assert.ok(emojiIds.length > 1);
  const d2 = ours.streamDecoder();
  const deltas = emojiIds.map((id) => d2.push(id));
  assert.deepEqual(deltas, [...deltas.slice(0, -1).map(() => ''), '😀']);
  assert.equal(d2.flush(), '');
});

test('decode replaces invalid UTF-8 with U+FFFD like HF, in both decoders', () => {
  const byteToken = (b: number) => ours.tokenToId(BYTE_TO_CHAR[b]!)!;
  const table: { bytes: number[]; text: string }[] = [
    { bytes: [0x80], text: '\ufffd' },                         // lone continuation byte
    { bytes: [0xe4, 0xbd], text: '\ufffd' },                   // truncated 3-byte sequence at the end
    { bytes: [0xe4, 0xbd, 0x61], text: '\ufffda' },            // truncated, then ASCII
    { bytes: [0xe4, 0xbd, 0xa0], text: '你' },                  // complete
    { bytes: [0xc0, 0xaf], text: '\ufffd\ufffd' },             // overlong encoding
    { bytes: [0xef, 0xbb, 0xbf, 0x61], text: '\ufeffa' },       // a leading BOM is kept
  ];
  for (const { bytes, text } of table) {
    const ids = bytes.map(byteToken);
    assert.equal(ours.decode(ids), text, JSON.stringify(bytes));
    assert.equal(ours.decode(ids), hf.decode(ids), JSON.stringify(bytes));
    const dec = ours.streamDecoder();
    assert.equal(ids.map((id) => dec.push(id)).join('') + dec.flush(), text, JSON.stringify(bytes));
  }
});

test('decode rejects ids outside the vocabulary, naming the id and the size', () => {
  assert.throws(() => ours.decode([5, 128815]), /token id 128815 .*vocab size 128815/);
  assert.throws(() => ours.decode([-1]), /token id -1 /);
  assert.throws(() => ours.streamDecoder().push(1e9), /token id 1000000000 .*128815/);
});
