// Byte-level BPE training: texts -> a complete tokenizer.json shaped like DeepSeek-V3's (its normalizer,
// pre-tokenizer, post-processor and decoder, from init-files.ts), with the 256 byte tokens, learned merges, and
// DeepSeek-V3's special tokens at the end of the vocabulary; plus saving it next to a tokenizer_config.json.
// Leaves out: the merge loop itself (train-merges.ts) and splitting special tokens out of the training text.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomically } from '../weights/safetensors.js';
import { utf8Bytes } from './byte-level.js';
import { BOS, EOS, byteLevelTokenizerJson, deepseekTokenizerConfig } from './init-files.js';
import { buildPreTokenizer, type PreTokenizer } from './pre-tokenizer.js';
import { learnMerges, type WordTable } from './train-merges.js';

export interface TrainBpeOptions {
  /** A pair must occur at least this often to be merged (default 1: merge until the vocabulary is full). */
  minCount?: number;
}

export interface TrainedTokenizer {
  /** The tokenizer.json object. */
  json: object;
  bosId: number;
  eosId: number;
  /** Merges learned; fewer than vocabSize - 256 - specials when the corpus runs out of pairs (ids then skip). */
  merges: number;
  /** Distinct pre-tokenized words trained on. */
  words: number;
}

interface TokenizerJsonShape {
  added_tokens: { id: number; content: string }[];
  pre_tokenizer: unknown;
  model: { vocab: Record<string, number>; merges: [string, string][] };
}

/**
 * Trains a byte-level BPE vocabulary of exactly `vocabSize` ids: 0..255 the bytes (id = byte value), then the
 * merged tokens in merge order, then DeepSeek-V3's special tokens at vocabSize - nSpecial .. vocabSize - 1.
 * Words are the pre-tokens of DeepSeek-V3's pre-tokenizer, counted over all texts.
 */
export function trainBpe(texts: readonly string[], vocabSize: number, opts: TrainBpeOptions = {}): TrainedTokenizer {
  let base: TokenizerJsonShape;
  try {
    base = structuredClone(byteLevelTokenizerJson(vocabSize).json) as TokenizerJsonShape; // a copy: it shares constants
  } catch (e) {
    throw new Error(`trainBpe: ${(e as Error).message.replace(/^byte-level tokenizer: /, '')}`);
  }
  const nSpecial = base.added_tokens.length;
  const firstSpecial = vocabSize - nSpecial;
  const table = wordTable(texts, buildPreTokenizer(base.pre_tokenizer, 'trainBpe pre_tokenizer').run);
  if (table.symbols.length === 0) throw new Error('trainBpe: the corpus is empty (no text to train on)');

  const { merges, tokens } = learnMerges(table, firstSpecial - 256, opts.minCount ?? 1);
  const vocab: Record<string, number> = {};
  tokens.forEach((t, id) => { vocab[t] = id; });
  base.model.vocab = vocab;
  base.model.merges = merges.map(([a, b]) => [tokens[a]!, tokens[b]!]);
  base.added_tokens.forEach((t, i) => { t.id = firstSpecial + i; });
  const idOf = (content: string) => base.added_tokens.find((t) => t.content === content)!.id;
  return { json: base, bosId: idOf(BOS), eosId: idOf(EOS), merges: merges.length, words: table.symbols.length };
}

/** The distinct pre-tokens of all texts as byte ids, with counts (in first-seen order, so training is deterministic). */
export function wordTable(texts: readonly string[], preTokenize: PreTokenizer): WordTable {
  const counts = new Map<string, number>();
  const pieces: string[] = [];
  for (const text of texts) {
    pieces.length = 0;
    preTokenize(text, pieces);
    for (const p of pieces) counts.set(p, (counts.get(p) ?? 0) + 1);
  }
  const table: WordTable = { symbols: [], counts: [] };
  for (const [word, count] of counts) {
    table.symbols.push(utf8Bytes(word, []));
    table.counts.push(count);
  }
  return table;
}

/** Writes tokenizer.json and tokenizer_config.json (DeepSeek-V3's chat template) into `dir`, each via temp + rename. */
export function saveTokenizer(dir: string, json: object): void {
  mkdirSync(dir, { recursive: true });
  const write = (name: string, value: object) =>
    writeFileAtomically(join(dir, name), (fd) => writeFileSync(fd, JSON.stringify(value, null, 2) + '\n'));
  write('tokenizer.json', json);
  write('tokenizer_config.json', deepseekTokenizerConfig());
}
