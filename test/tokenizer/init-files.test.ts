// Files written by `qiusuo init`: the embedded chat template equals DeepSeek-V3's, the byte-level tokenizer.json
// has DeepSeek-V3's structure and specials, loads in @huggingface/tokenizers and encodes identically to ours.
// Leaves out: checkpoint writing (weights/).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { Tokenizer } from '../../src/tokenizer/bpe.js';
import { ChatTemplate } from '../../src/tokenizer/chat.js';
import { DEEPSEEK_V3_CHAT_TEMPLATE } from '../../src/tokenizer/deepseek-chat-template.js';
import { byteLevelTokenizerJson, deepseekTokenizerConfig } from '../../src/tokenizer/init-files.js';
import { CASES, mixedText, wellFormed } from './mixed-text.js';
import { tokenizerConfig, tokenizerJson } from './deepseek-files.js';

const real = tokenizerJson as Record<string, any>;
const { json, bosId, eosId } = byteLevelTokenizerJson(300);
const made = json as Record<string, any>;

test('embedded chat template equals the one shipped with DeepSeek-V3', () => {
  assert.equal(DEEPSEEK_V3_CHAT_TEMPLATE, tokenizerConfig.chat_template);
});

test('same normalizer, pre-tokenizer, post-processor and decoder as DeepSeek-V3', () => {
  for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder']) assert.deepEqual(made[key], real[key], key);
});

test('specials: every token the chat template writes, plus BOS/EOS/pad, with DeepSeek-V3 flags', () => {
  const inTemplate = new Set(DEEPSEEK_V3_CHAT_TEMPLATE.match(/<｜[^｜]+｜>/g));
  const contents = made.added_tokens.map((t: { content: string }) => t.content);
  for (const c of inTemplate) assert.ok(contents.includes(c), c);
  assert.deepEqual(contents.slice(0, 3), ['<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<｜▁pad▁｜>']);
  for (const t of made.added_tokens) {
    const ref = real.added_tokens.find((r: { content: string }) => r.content === t.content);
    assert.ok(ref, t.content);
    for (const flag of ['special', 'normalized', 'lstrip', 'rstrip', 'single_word']) assert.equal(t[flag], ref[flag], `${t.content}.${flag}`);
  }
  assert.equal(bosId, 256);
  assert.equal(eosId, 257);
});

test('loads in @huggingface/tokenizers and encodes exactly like ours', () => {
  const ours = Tokenizer.fromJSON(made, 'init tokenizer.json');
  const hf = new HfTokenizer(made, deepseekTokenizerConfig());
  assert.equal(ours.vocabSize, 270);
  assert.equal(ours.idToToken(bosId), '<｜begin▁of▁sentence｜>');
  assert.equal(ours.idToToken(eosId), '<｜end▁of▁sentence｜>');
  assert.deepEqual(ours.encode('A b'), [0x41, 0x20, 0x62]); // ids are the bytes
  for (const text of [...CASES.map((c) => c.text), mixedText(20_000, 3)]) {
    const ids = ours.encode(text);
    assert.deepEqual(ids, hf.encode(text, { add_special_tokens: false }).ids, JSON.stringify(text.slice(0, 40)));
    assert.ok(ids.every((id) => id < 270));
    assert.equal(ours.decode(ids), wellFormed(text));
  }
});

test('vocab sizes too small for bytes + specials are refused', () => {
  for (const size of [0, 256, 269, 270.5]) {
    assert.throws(() => byteLevelTokenizerJson(size), /vocab_size .* is too small; it needs 270 \(256 bytes \+ 14 special tokens\)/, String(size));
  }
  assert.doesNotThrow(() => byteLevelTokenizerJson(270));
});

test('deepseekTokenizerConfig renders like DeepSeek-V3\'s own config', () => {
  const ours = ChatTemplate.fromJSON(deepseekTokenizerConfig(), 'init config');
  const theirs = ChatTemplate.fromJSON(tokenizerConfig, 'deepseek config');
  const messages = [{ role: 'system', content: 'S' }, { role: 'user', content: 'Q' }, { role: 'assistant', content: 'A' }, { role: 'user', content: 'Q2' }] as const;
  assert.equal(ours.render([...messages], { addGenerationPrompt: true }), theirs.render([...messages], { addGenerationPrompt: true }));
  assert.equal(ours.bosToken, theirs.bosToken);
  assert.equal(ours.eosToken, theirs.eosToken);
});
