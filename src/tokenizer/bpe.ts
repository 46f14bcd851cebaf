// Tokenizer: a Hugging Face tokenizer.json with a byte-level BPE model (DeepSeek-V3's kind), encoding and
// decoding to the same ids and text as HF: added tokens first, then normalizer, pre-tokenizer, BPE, and the
// post-processor on request; decoding is ByteLevel (bytes -> UTF-8, invalid sequences -> U+FFFD). The same class
// serves tiktoken-format folders (tiktoken-files.ts builds its parts).
// Leaves out: offsets, pairs, truncation/padding and non-BPE models (they throw when loaded).

import { readFileSync } from 'node:fs';
import { AddedTokenMatcher, MAX_TOKEN_IDS, parseAddedTokens, type AddedToken } from './added-tokens.js';
import { tokenBytes } from './byte-level.js';
import { BpeModel } from './bpe-model.js';
import { buildNormalizer, type Normalizer } from './normalizer.js';
import { buildPostProcessor, type PostProcessor } from './post-processor.js';
import { buildPreTokenizer, type PreTokenizer } from './pre-tokenizer.js';
import { parseJson, preview } from '../util/json.js';

export interface EncodeOptions { addSpecialTokens?: boolean }
export interface DecodeOptions { skipSpecialTokens?: boolean }

/** Incremental decoder for generation: each push returns only complete characters. */
export interface StreamDecoder {
  push(id: number): string;
  flush(): string;
}

export class Tokenizer {
  /** Max id + 1 over the vocab and the added tokens. */
  readonly vocabSize: number;
  private readonly model: BpeModel;
  private readonly normalizer: Normalizer | null;
  private readonly preTokenizer: PreTokenizer;
  private readonly postProcessor: PostProcessor;
  private readonly rawMatcher: AddedTokenMatcher;       // added tokens with normalized: false
  private readonly normalizedMatcher: AddedTokenMatcher; // added tokens with normalized: true
  private readonly vocab: Map<string, number>;
  private readonly added: Map<string, number>;
  private readonly tokens: (string | undefined)[];      // id -> token string
  private readonly special: Uint8Array;                 // id -> 1 if a special added token
  private readonly bytesOf: (Uint8Array | undefined)[]; // id -> decoded bytes, filled lazily

  /** Reads a tokenizer.json file; errors name the file. */
  static fromFile(path: string): Tokenizer {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw new Error(`${path}: cannot read tokenizer file (${(e as Error).message})`);
    }
    return Tokenizer.fromJSON(parseJson(text, `${path}: not valid JSON`), path);
  }

  /** Builds from a parsed tokenizer.json; `source` names it in errors. */
  static fromJSON(json: unknown, source = 'tokenizer.json'): Tokenizer {
    return new Tokenizer(partsFromJson(json, source), source);
  }

  /** Builds from parts read elsewhere (tiktoken-files.ts); `source` names them in errors. */
  static fromParts(parts: TokenizerParts, source: string): Tokenizer {
    return new Tokenizer(parts, source);
  }

  private constructor(parts: TokenizerParts, where: string) {
    this.vocab = parts.vocab;
    this.model = parts.model;
    this.preTokenizer = parts.preTokenizer;
    this.normalizer = parts.normalizer;
    this.postProcessor = parts.postProcessor;
    const addedTokens = parts.addedTokens;
    this.rawMatcher = new AddedTokenMatcher(addedTokens.filter((t) => !t.normalized));
    this.normalizedMatcher = new AddedTokenMatcher(addedTokens.filter((t) => t.normalized));
    this.added = new Map(addedTokens.map((t) => [t.content, t.id]));

    let size = 0;
    for (const id of this.vocab.values()) size = Math.max(size, id + 1);
    for (const t of addedTokens) size = Math.max(size, t.id + 1);
    this.vocabSize = size;
    this.tokens = new Array<string | undefined>(size);
    for (const [tok, id] of this.vocab) this.tokens[id] = tok;
    this.special = new Uint8Array(size);
    for (const t of addedTokens) {
      this.tokens[t.id] = t.content;
      if (t.special) this.special[t.id] = 1;
    }
    this.bytesOf = new Array<Uint8Array | undefined>(size);
    // A post-processor only adds fixed ids around the sequence; each must be a token, or decode would refuse it.
    for (const id of this.postProcessor([])) {
      if (!Number.isInteger(id) || id < 0 || id >= size || this.tokens[id] === undefined) {
        throw new Error(`${where}: post_processor adds token id ${preview(id)}, which is neither in model.vocab nor in added_tokens`);
      }
    }
  }

  /**
   * Text -> ids. Added tokens written in the text (e.g. "<｜User｜>") map to their ids. With addSpecialTokens the
   * post_processor's template is applied (DeepSeek-V3's ByteLevel post-processor adds nothing).
   */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const out: number[] = [];
    const words: string[] = [];
    const encodePlain = (piece: string, id: number) => {
      if (id >= 0) { out.push(id); return; }
      words.length = 0;
      this.preTokenizer(piece, words);
      for (let k = 0; k < words.length; k++) this.model.encodeWord(words[k]!, out);
    };
    this.rawMatcher.split(text, (piece, id) => {
      if (id >= 0) out.push(id);
      else this.normalizedMatcher.split(this.normalizer ? this.normalizer(piece) : piece, encodePlain);
    });
    return opts.addSpecialTokens ? this.postProcessor(out) : out;
  }

  /** Ids -> text. Throws on an id outside the vocabulary. */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const id of ids) {
      const b = this.idBytes(id, opts.skipSpecialTokens === true);
      if (b) { parts.push(b); total += b.length; }
    }
    const all = new Uint8Array(total);
    let at = 0;
    for (const p of parts) { all.set(p, at); at += p.length; }
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(all);
  }

  /**
   * A decoder fed one id at a time; it returns text as soon as it forms whole characters and holds back the
   * bytes of an incomplete one. The concatenation of all push() results and flush() equals decode(ids).
   */
  streamDecoder(opts: DecodeOptions = {}): StreamDecoder {
    const td = new TextDecoder('utf-8', { ignoreBOM: true });
    const skip = opts.skipSpecialTokens === true;
    return {
      push: (id) => {
        const b = this.idBytes(id, skip);
        return b ? td.decode(b, { stream: true }) : '';
      },
      flush: () => td.decode(),
    };
  }

  tokenToId(token: string): number | undefined {
    return this.added.get(token) ?? this.vocab.get(token);
  }

  idToToken(id: number): string | undefined {
    return Number.isInteger(id) && id >= 0 ? this.tokens[id] : undefined;
  }

  isSpecial(id: number): boolean {
    return this.special[id] === 1;
  }

  private idBytes(id: number, skipSpecial: boolean): Uint8Array | null {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.tokens[id] === undefined) {
      throw new Error(`decode: token id ${id} is outside the vocabulary (vocab size ${this.vocabSize})`);
    }
    if (skipSpecial && this.special[id] === 1) return null;
    return (this.bytesOf[id] ??= tokenBytes(this.tokens[id]!));
  }
}

/** What a Tokenizer is made of, whichever file format it came from. */
export interface TokenizerParts {
  /** Byte-level token string -> id. */
  vocab: Map<string, number>;
  model: BpeModel;
  preTokenizer: PreTokenizer;
  normalizer: Normalizer | null;
  postProcessor: PostProcessor;
  addedTokens: AddedToken[];
}

function partsFromJson(json: unknown, where: string): TokenizerParts {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${where}: expected a JSON object`);
  const j = json as Record<string, unknown>;
  const m = j.model as Record<string, unknown> | undefined;
  if (m?.type !== 'BPE') throw new Error(`${where}: unsupported model type ${preview(m?.type)} (only BPE)`);
  for (const key of ['continuing_subword_prefix', 'end_of_word_suffix'] as const) {
    if (m[key]) throw new Error(`${where}: BPE option ${key} is not supported`);
  }
  if (typeof m.dropout === 'number' && m.dropout > 0) throw new Error(`${where}: BPE dropout is not supported`);
  const vocab = parseVocab(m.vocab, where);
  const model = BpeModel.fromMerges(vocab, parseMerges(m.merges, where), m.ignore_merges === true, where);

  const pre = buildPreTokenizer(j.pre_tokenizer, `${where}: pre_tokenizer`);
  if (!pre.byteLevel) throw new Error(`${where}: only byte-level BPE is supported (pre_tokenizer must end with ByteLevel)`);
  const normalizer = buildNormalizer(j.normalizer, `${where}: normalizer`);
  const postProcessor = buildPostProcessor(j.post_processor, `${where}: post_processor`);
  const decoder = j.decoder as { type?: unknown } | null | undefined;
  if (decoder?.type !== 'ByteLevel') throw new Error(`${where}: unsupported decoder ${preview(decoder?.type ?? null)} (only ByteLevel)`);
  return { vocab, model, preTokenizer: pre.run, normalizer, postProcessor, addedTokens: parseAddedTokens(j.added_tokens, where) };
}

function parseVocab(json: unknown, where: string): Map<string, number> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error(`${where}: model.vocab must be an object`);
  const o = json as Record<string, unknown>;
  const keys = Object.keys(o); // faster than Object.entries on a 128k-key object
  const vocab = new Map<string, number>();
  for (let i = 0; i < keys.length; i++) {
    const tok = keys[i]!;
    const id = o[tok];
    if (!Number.isInteger(id) || (id as number) < 0) throw new Error(`${where}: model.vocab[${preview(tok)}] is not a non-negative integer`);
    if ((id as number) >= MAX_TOKEN_IDS) throw new Error(`${where}: model.vocab[${preview(tok)}] is id ${id}; ids must be below ${MAX_TOKEN_IDS}`);
    vocab.set(tok, id as number);
  }
  return vocab;
}

/** Merges as "a b" strings (older files) or [a, b] pairs (newer files). */
function parseMerges(json: unknown, where: string): [string, string][] {
  if (json === undefined) return [];
  if (!Array.isArray(json)) throw new Error(`${where}: model.merges must be an array`);
  return json.map((m: unknown, i) => {
    if (typeof m === 'string') {
      const sp = m.indexOf(' ');
      if (sp < 0 || m.indexOf(' ', sp + 1) >= 0) throw new Error(`${where}: model.merges[${i}] ${preview(m)} is not "a b"`);
      return [m.slice(0, sp), m.slice(sp + 1)];
    }
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') return [m[0], m[1]];
    throw new Error(`${where}: model.merges[${i}] must be "a b" or ["a", "b"]`);
  });
}
