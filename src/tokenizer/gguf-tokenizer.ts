// Tokenizer files <-> GGUF tokenizer metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`), as pure functions:
// a byte-level BPE tokenizer.json shaped like DeepSeek-V3's becomes llama.cpp's "gpt2" vocabulary with pre-tokenizer
// "deepseek-v3", and back. Leaves out: reading and writing GGUF files (weights/gguf.ts) and every other
// pre-tokenizer (llama.cpp only knows fixed regex sets, so a tokenizer.json with another one is refused).

import { parseAddedTokens, type AddedToken } from './added-tokens.js';
import { CHAR_TO_BYTE } from './byte-level.js';
import { bpeModelJson, byteLevelTokenizerJson } from './init-files.js';
import { preview } from '../util/json.js';
import type { GgufScalar, GgufScalarType, GgufValue } from '../weights/gguf.js';


/** llama.cpp's token types (include/llama.h, llama_token_type). */
export const TokenType = { NORMAL: 1, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5 } as const;

/** The one `tokenizer.ggml.pre` supported: DeepSeek-V3's regexes (LLAMA_VOCAB_PRE_TYPE_DEEPSEEK3_LLM). */
const PRE = 'deepseek-v3';

/** DeepSeek-V3's normalizer, pre-tokenizer, post-processor and decoder, as `qiusuo init` and `qiusuo train` write them. */
function deepseekPipeline(): { normalizer: unknown; pre_tokenizer: unknown; post_processor: unknown; decoder: unknown } {
  return structuredClone(byteLevelTokenizerJson(512).json) as never;
}

export interface SpecialTokenIds {
  /** The model config's bos_token_id / eos_token_id: they win over tokenizer_config's bos_token / eos_token. */
  bosTokenId?: number;
  eosTokenId?: number;
}

/**
 * The GGUF metadata that lets llama.cpp tokenize as Tokenizer.fromJSON(tokenizerJson) does: one token per
 * embedding row. Ids no vocab or added token uses (gaps, and rows past the last token) become unique "[PAD{i}]"
 * tokens of type UNUSED, as llama.cpp's converter writes them. Token strings are the byte-level ones of model.vocab
 * ("Ġthe"); added tokens keep their content ("<｜User｜>"), which llama.cpp matches in raw text.
 *
 * Token types: special added tokens are CONTROL and the other added tokens USER_DEFINED. llama.cpp's converter
 * also makes CONTROL any added token spelled like "<｜…｜>" (so DeepSeek-V3's "<｜User｜>"); we keep it
 * USER_DEFINED because llama.cpp then matches it in text even when parsing of special tokens is off, and prints it
 * when detokenizing without specials, as our encode and decode(skipSpecialTokens) do.
 */
export function ggufTokenizerMetadata(
  tokenizerJson: unknown,
  tokenizerConfig: unknown | null,
  vocabRows: number,
  where: string,
  ids: SpecialTokenIds = {},
): [string, GgufValue][] {
  const j = objectAt(tokenizerJson, where, 'tokenizer.json');
  checkPipeline(j, where);
  const model = objectAt(j.model, where, 'model');
  if (model.type !== 'BPE') throw new Error(`${where}: model.type is ${preview(model.type)}; GGUF's "gpt2" vocabulary is BPE`);
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix', 'byte_fallback', 'ignore_merges'] as const) {
    if (model[key]) throw new Error(`${where}: model.${key} is set; llama.cpp's "gpt2" vocabulary has no such option`);
  }
  if (typeof model.dropout === 'number' && model.dropout > 0) throw new Error(`${where}: model.dropout is set; llama.cpp has no BPE dropout`);

  const { tokens, types } = tokenTable(objectAt(model.vocab, where, 'model.vocab'), parseAddedTokens(j.added_tokens, where), where);
  const n = tokens.length;
  if (!Number.isInteger(vocabRows) || vocabRows < n) {
    throw new Error(`${where}: the embedding has ${vocabRows} rows but the tokenizer's ids run to ${n - 1}`);
  }
  // Ids no token uses (qiusuo train skips some when the corpus runs out of pairs) and rows past the last token
  // become padding, as llama.cpp's converter writes them.
  const taken = new Set(tokens);
  for (let id = 0; id < vocabRows; id++) {
    if (tokens[id] !== undefined) continue;
    const pad = `[PAD${id}]`;
    if (taken.has(pad)) throw new Error(`${where}: token ${preview(pad)} exists, so id ${id} cannot be named as padding`);
    tokens[id] = pad;
    types[id] = TokenType.UNUSED;
  }
  const merges = mergeStrings(model.merges, model.vocab as Record<string, unknown>, where);

  const config = tokenizerConfig === null ? {} : objectAt(tokenizerConfig, where, 'tokenizer_config.json');
  const tokenId = new Map(tokens.map((t, id) => [t, id]));
  const specialId = (key: 'bos_token' | 'eos_token', given: number | undefined): number => {
    if (given !== undefined) {
      if (!Number.isInteger(given) || given < 0 || given >= n || types[given] === TokenType.UNUSED) {
        throw new Error(`${where}: ${key} id ${given} is not a token id`);
      }
      return given;
    }
    const text = tokenContent(config[key], key, where);
    if (text === null) throw new Error(`${where}: no ${key} (neither the model config's ${key}_id nor tokenizer_config's ${key}); llama.cpp would assume id 11`);
    const id = tokenId.get(text);
    if (id === undefined || types[id] === TokenType.UNUSED) throw new Error(`${where}: tokenizer_config ${key} ${preview(text)} is not a token`);
    return id;
  };

  const meta: [string, GgufValue][] = [
    ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'string', value: PRE }],
    ['tokenizer.ggml.tokens', { type: 'array', itemType: 'string', value: tokens }],
    ['tokenizer.ggml.token_type', { type: 'array', itemType: 'i32', value: types }],
    ['tokenizer.ggml.merges', { type: 'array', itemType: 'string', value: merges }],
    ['tokenizer.ggml.bos_token_id', { type: 'u32', value: specialId('bos_token', ids.bosTokenId) }],
    ['tokenizer.ggml.eos_token_id', { type: 'u32', value: specialId('eos_token', ids.eosTokenId) }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: flag(config, 'add_bos_token', where) }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: flag(config, 'add_eos_token', where) }],
  ];
  const template = chatTemplate(config.chat_template, where);
  if (template !== null) meta.push(['tokenizer.chat_template', { type: 'string', value: template }]);
  return meta;
}

/**
 * The tokenizer.json and tokenizer_config.json objects that GGUF tokenizer metadata describes, for
 * Tokenizer.fromJSON and ChatTemplate.fromJSON. NORMAL tokens form model.vocab, CONTROL tokens become special added
 * tokens and USER_DEFINED ones non-special added tokens. UNUSED tokens (the "[PAD{i}]" rows) are left out, as the
 * folder the GGUF was made from has no token there: generation never samples those ids (no merge may make or use them).
 */
export function tokenizerFromGgufMetadata(meta: ReadonlyMap<string, GgufValue>, where: string): { json: object; config: object } {
  const model = scalar(meta, 'tokenizer.ggml.model', 'string', where);
  if (model !== 'gpt2') throw new Error(`${where}: tokenizer.ggml.model is ${preview(model)}; only "gpt2" (byte-level BPE) is supported`);
  const pre = meta.has('tokenizer.ggml.pre') ? scalar(meta, 'tokenizer.ggml.pre', 'string', where) : undefined;
  if (pre !== PRE) {
    throw new Error(`${where}: tokenizer.ggml.pre is ${pre === undefined ? 'missing' : preview(pre)}; only "${PRE}" is supported`);
  }
  const tokens = array(meta, 'tokenizer.ggml.tokens', 'string', where) as string[];
  const types = array(meta, 'tokenizer.ggml.token_type', 'i32', where) as number[];
  if (types.length !== tokens.length) {
    throw new Error(`${where}: tokenizer.ggml.token_type has ${types.length} entries for ${tokens.length} tokens`);
  }

  const vocab: Record<string, number> = Object.create(null);
  const unused = new Set<string>();
  const added: object[] = [];
  const seen = new Map<string, number>();
  tokens.forEach((token, id) => {
    const before = seen.get(token);
    if (before !== undefined) throw new Error(`${where}: tokenizer.ggml.tokens has ${preview(token)} at ids ${before} and ${id}`);
    seen.set(token, id);
    const type = types[id];
    if (type === TokenType.NORMAL) {
      vocab[token] = id;
    } else if (type === TokenType.UNUSED) {
      // A byte's own character is produced whenever the byte occurs, whatever its type says.
      if (CHAR_TO_BYTE.has(token)) throw new Error(`${where}: tokenizer.ggml.tokens[${id}] ${preview(token)} is a byte but marked unused`);
      unused.add(token);
    } else if (type === TokenType.CONTROL || type === TokenType.USER_DEFINED) {
      if (token === '') throw new Error(`${where}: tokenizer.ggml.tokens[${id}] is an empty added token`);
      const special = type === TokenType.CONTROL;
      added.push({ id, content: token, single_word: false, lstrip: false, rstrip: false, normalized: !special, special });
    } else {
      throw new Error(`${where}: tokenizer.ggml.token_type[${id}] is ${type}; supported: 1 normal, 3 control, 4 user-defined, 5 unused`);
    }
  });

  const isNormal = (t: string) => vocab[t] !== undefined && !unused.has(t);
  const merges = (array(meta, 'tokenizer.ggml.merges', 'string', where) as string[]).map((m, i): [string, string] => {
    // llama.cpp splits at the first space after the first character, so a left part may be a lone space.
    const sp = m.indexOf(' ', 1);
    if (sp < 0) throw new Error(`${where}: tokenizer.ggml.merges[${i}] ${preview(m)} is not "left right"`);
    const [a, b] = [m.slice(0, sp), m.slice(sp + 1)];
    const bad = [a, b, a + b].find((t) => !isNormal(t));
    if (bad !== undefined) throw new Error(`${where}: tokenizer.ggml.merges[${i}] ${preview(m)} needs ${preview(bad)}, which is not a normal token`);
    return [a, b];
  });

  const textOf = (key: string): string | null => {
    if (!meta.has(key)) return null;
    const id = scalar(meta, key, 'u32', where) as number;
    if (id >= tokens.length) throw new Error(`${where}: ${key} is ${id}, beyond the ${tokens.length} tokens`);
    return tokens[id]!;
  };
  const boolOf = (key: string) => (meta.has(key) ? (scalar(meta, key, 'bool', where) as boolean) : false);
  const config: Record<string, unknown> = {
    bos_token: textOf('tokenizer.ggml.bos_token_id'),
    eos_token: textOf('tokenizer.ggml.eos_token_id'),
    add_bos_token: boolOf('tokenizer.ggml.add_bos_token'),
    add_eos_token: boolOf('tokenizer.ggml.add_eos_token'),
  };
  if (meta.has('tokenizer.chat_template')) config.chat_template = scalar(meta, 'tokenizer.chat_template', 'string', where);

  const { normalizer, pre_tokenizer, post_processor, decoder } = deepseekPipeline();
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer,
    pre_tokenizer,
    post_processor,
    decoder,
    model: bpeModelJson(vocab, merges),
  };
  return { json, config };
}

/** Refuses a tokenizer.json whose text pipeline is not DeepSeek-V3's, naming the first difference. */
function checkPipeline(j: Record<string, unknown>, where: string): void {
  const ours = deepseekPipeline();
  for (const key of ['normalizer', 'pre_tokenizer'] as const) {
    const diff = firstDifference(j[key], ours[key], key);
    if (diff !== null) {
      throw new Error(`${where}: ${diff}; llama.cpp's "${PRE}" pre-tokenizer is DeepSeek-V3's exactly, and no other is supported`);
    }
  }
  // Both add or remove nothing beyond bytes; a post-processor template (e.g. adding BOS) has no GGUF equivalent.
  for (const key of ['post_processor', 'decoder'] as const) {
    const type = (j[key] as { type?: unknown } | null | undefined)?.type;
    if (type !== 'ByteLevel') throw new Error(`${where}: ${key} is ${preview(type ?? null)}; only ByteLevel is supported`);
  }
}

/** "path is X where DeepSeek-V3's is Y" for the first place two JSON values differ, or null when equal. */
function firstDifference(got: unknown, want: unknown, path: string): string | null {
  const differs = () => `${path} is ${preview(got ?? null)} where DeepSeek-V3's is ${preview(want)}`;
  if (Array.isArray(want)) {
    if (!Array.isArray(got)) return differs();
    for (let i = 0; i < Math.max(got.length, want.length); i++) {
      const d = firstDifference(got[i], want[i], `${path}[${i}]`);
      if (d !== null) return d;
    }
    return null;
  }
  if (typeof want === 'object' && want !== null) {
    if (typeof got !== 'object' || got === null || Array.isArray(got)) return differs();
    const g = got as Record<string, unknown>;
    const w = want as Record<string, unknown>;
    for (const key of new Set([...Object.keys(w), ...Object.keys(g)])) {
      const d = firstDifference(g[key], w[key], `${path}.${key}`);
      if (d !== null) return d;
    }
    return null;
  }
  return got === want ? null : differs();
}

/** Token strings and types by id, vocab and added tokens together; each id used at most once, ids no token uses left empty. */
function tokenTable(vocab: Record<string, unknown>, addedTokens: AddedToken[], where: string): { tokens: string[]; types: number[] } {
  const tokens: string[] = [];
  const types: number[] = [];
  const idOf = new Map<string, number>();
  const place = (token: string, id: number, type: number, what: string) => {
    const other = idOf.get(token);
    if (other !== undefined && other !== id) throw new Error(`${where}: ${what} ${preview(token)} is id ${id} and also id ${other}; GGUF tokens must be unique`);
    if (tokens[id] !== undefined && tokens[id] !== token) {
      throw new Error(`${where}: id ${id} is both ${preview(tokens[id])} and ${preview(token)}`);
    }
    idOf.set(token, id);
    tokens[id] = token;
    types[id] = type;
  };
  for (const token of Object.keys(vocab)) {
    const id = vocab[token];
    if (!Number.isInteger(id) || (id as number) < 0) throw new Error(`${where}: model.vocab[${preview(token)}] is not a non-negative integer`);
    if (token === '') throw new Error(`${where}: model.vocab has an empty token (id ${id as number})`);
    place(token, id as number, TokenType.NORMAL, 'model.vocab token');
  }
  // An added token may also be in model.vocab at its own id (DeepSeek-V3's BOS, EOS, PAD): it keeps one entry.
  for (const t of addedTokens) {
    if (t.lstrip || t.rstrip || t.singleWord) {
      throw new Error(`${where}: added token ${preview(t.content)} sets lstrip, rstrip or single_word, which GGUF metadata cannot carry`);
    }
    place(t.content, t.id, t.special ? TokenType.CONTROL : TokenType.USER_DEFINED, 'added token');
  }
  if (tokens.length === 0) throw new Error(`${where}: model.vocab is empty`);
  return { tokens, types };
}

/** model.merges ("a b" or ["a", "b"]) as llama.cpp's "left right" strings, each side and the result in model.vocab. */
function mergeStrings(json: unknown, vocab: Record<string, unknown>, where: string): string[] {
  if (!Array.isArray(json)) throw new Error(`${where}: model.merges is missing or not an array`);
  const has = (t: string) => Object.hasOwn(vocab, t);
  return json.map((m: unknown, i) => {
    let pair: unknown[];
    if (typeof m === 'string') pair = m.split(' ');
    else if (Array.isArray(m)) pair = m;
    else pair = [];
    const [a, b] = pair;
    const isPart = (t: unknown) => typeof t === 'string' && t !== '' && !t.includes(' ');
    if (pair.length !== 2 || !isPart(a) || !isPart(b)) {
      throw new Error(`${where}: model.merges[${i}] ${preview(m)} is not a pair of tokens without spaces`);
    }
    const missing = [a as string, b as string, (a as string) + (b as string)].find((t) => !has(t));
    if (missing !== undefined) throw new Error(`${where}: model.merges[${i}] ${preview(m)} needs ${preview(missing)}, which is not in model.vocab`);
    return `${a} ${b}`;
  });
}

function objectAt(v: unknown, where: string, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${where}: ${what} is missing or not an object`);
  return v as Record<string, unknown>;
}

/** A tokenizer_config token: a string, {content: string} (AddedToken form), or absent/null. */
function tokenContent(v: unknown, key: string, where: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  const content = (v as { content?: unknown }).content;
  if (typeof content === 'string') return content;
  throw new Error(`${where}: tokenizer_config ${key} must be a string or {"content": string}`);
}

function flag(config: Record<string, unknown>, key: string, where: string): boolean {
  const v = config[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new Error(`${where}: tokenizer_config ${key} is ${preview(v)}, not true or false`);
  return v;
}

/** chat_template as a string, or (newer configs) the "default" one of a list of {name, template}. */
function chatTemplate(v: unknown, where: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  const d = Array.isArray(v) ? v.find((t) => t?.name === 'default') : undefined;
  if (typeof d?.template === 'string') return d.template;
  throw new Error(`${where}: tokenizer_config chat_template must be a string or a list with a "default" template`);
}

function scalar(meta: ReadonlyMap<string, GgufValue>, key: string, type: GgufScalarType, where: string): GgufScalar {
  const v = meta.get(key);
  if (v === undefined) throw new Error(`${where}: ${key} is missing`);
  if (v.type !== type) throw new Error(`${where}: ${key} is ${describe(v)}, expected ${type}`);
  return v.value as GgufScalar;
}

function array(meta: ReadonlyMap<string, GgufValue>, key: string, itemType: GgufScalarType, where: string): GgufScalar[] {
  const v = meta.get(key);
  if (v === undefined) throw new Error(`${where}: ${key} is missing`);
  if (v.type !== 'array' || v.itemType !== itemType) throw new Error(`${where}: ${key} is ${describe(v)}, expected an array of ${itemType}`);
  return v.value;
}

function describe(v: GgufValue): string {
  return v.type === 'array' ? `an array of ${v.itemType}` : `a ${v.type}`;
}
