// The tokenizer files written next to a randomly initialised checkpoint (`qiusuo init`): a byte-level BPE
// tokenizer.json shaped like DeepSeek-V3's (same normalizer, pre-tokenizer, post-processor, decoder) whose vocab
// is the 256 bytes plus DeepSeek-V3's special tokens, and a tokenizer_config.json with its chat template.
// Leaves out: merges (none; every byte is one token) and training a vocabulary.

import { BYTE_TO_CHAR } from './byte-level.js';
import { DEEPSEEK_V3_CHAT_TEMPLATE } from './deepseek-chat-template.js';

export const BOS = '<｜begin▁of▁sentence｜>';
export const EOS = '<｜end▁of▁sentence｜>';
export const PAD = '<｜▁pad▁｜>';

/** DeepSeek-V3's control tokens, in this order after the bytes; special ones are skipped by decode. */
const SPECIALS: readonly { content: string; special: boolean }[] = [
  { content: BOS, special: true },
  { content: EOS, special: true },
  { content: PAD, special: true },
  // Written by the chat template:
  ...[
    '<｜User｜>', '<｜Assistant｜>',
    '<｜tool▁calls▁begin｜>', '<｜tool▁calls▁end｜>', '<｜tool▁call▁begin｜>', '<｜tool▁call▁end｜>',
    '<｜tool▁outputs▁begin｜>', '<｜tool▁outputs▁end｜>', '<｜tool▁output▁begin｜>', '<｜tool▁output▁end｜>',
    '<｜tool▁sep｜>',
  ].map((content) => ({ content, special: false })),
];

/** DeepSeek-V3's pre-tokenizer: digits in runs of up to 3, CJK runs, then a GPT-4-like word split; then bytes. */
const PRE_TOKENIZER = {
  type: 'Sequence',
  pretokenizers: [
    { type: 'Split', pattern: { Regex: '\\p{N}{1,3}' }, behavior: 'Isolated', invert: false },
    { type: 'Split', pattern: { Regex: '[一-龥぀-ゟ゠-ヿ]+' }, behavior: 'Isolated', invert: false },
    {
      type: 'Split',
      pattern: {
        Regex: "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
      },
      behavior: 'Isolated',
      invert: false,
    },
    { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
  ],
};

/**
 * A tokenizer.json for a model with `vocabSize` embedding rows: ids 0..255 are the bytes, then the special
 * tokens (BOS = 256, EOS = 257). Rows past the last special id are simply never produced.
 */
export function byteLevelTokenizerJson(vocabSize: number): { json: object; bosId: number; eosId: number } {
  const needed = 256 + SPECIALS.length;
  if (!Number.isInteger(vocabSize) || vocabSize < needed) {
    throw new Error(`byte-level tokenizer: vocab_size ${vocabSize} is too small; it needs ${needed} (256 bytes + ${SPECIALS.length} special tokens)`);
  }
  const vocab: Record<string, number> = {};
  BYTE_TO_CHAR.forEach((ch, b) => { vocab[ch] = b; });
  const added_tokens = SPECIALS.map((t, i) => ({
    id: 256 + i,
    content: t.content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: !t.special,
    special: t.special,
  }));
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens,
    normalizer: { type: 'Sequence', normalizers: [] },
    pre_tokenizer: PRE_TOKENIZER,
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: bpeModelJson(vocab, []),
  };
  return { json, bosId: 256, eosId: 257 };
}

/** tokenizer_config.json content: DeepSeek-V3's chat template and special tokens. */
export function deepseekTokenizerConfig(): object {
  return {
    add_bos_token: true,
    add_eos_token: false,
    bos_token: BOS,
    eos_token: EOS,
    pad_token: EOS,
    unk_token: null,
    clean_up_tokenization_spaces: false,
    legacy: true,
    model_max_length: 131072,
    tokenizer_class: 'LlamaTokenizerFast',
    chat_template: DEEPSEEK_V3_CHAT_TEMPLATE,
  };
}

/** tokenizer.json's "model" for byte-level BPE as DeepSeek-V3's is written (no dropout, unk, prefixes or fallback). */
export function bpeModelJson(vocab: Record<string, number>, merges: unknown[]): object {
  return {
    type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
    fuse_unk: false, byte_fallback: false, vocab, merges,
  };
}
