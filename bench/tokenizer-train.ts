// Tokenizer-training benchmark on the default corpus: Brown loading, the train/val split, BPE training time
// (pre-tokenizing + counting words, then merges), tokens per byte at the trained vocabulary, and the unigram
// bits-per-byte baseline on the val split. Usage: node --import tsx bench/tokenizer-train.ts [vocab] [--out FILE]
// Leaves out: comparison with other trainers (none is a dependency) and writing results unless --out is given.

import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { Tokenizer } from '../src/tokenizer/bpe.js';
import { buildPreTokenizer } from '../src/tokenizer/pre-tokenizer.js';
import { trainBpe, wordTable } from '../src/tokenizer/train.js';
import { loadDocuments, packTokens, splitDocuments, unigramBitsPerByte } from '../src/train/data.js';

const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const outPath = outAt >= 0 ? args[outAt + 1] : undefined;
const vocabSize = Number(args.find((a, i) => !a.startsWith('--') && (outAt < 0 || i !== outAt + 1)) ?? 4096);
const VAL_FRACTION = 0.1;
const SEED = 1234;

function time<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const v = f();
  return [v, performance.now() - t0];
}
const bytes = (docs: string[]) => docs.reduce((n, d) => n + Buffer.byteLength(d, 'utf8'), 0);

const [{ documents, source }, loadMs] = time(() => loadDocuments());
const { train, val } = splitDocuments(documents, VAL_FRACTION, SEED);
const [trained, trainMs] = time(() => trainBpe(train, vocabSize));
// The word-counting share of the training time, measured on its own.
const pre = buildPreTokenizer((trained.json as { pre_tokenizer: unknown }).pre_tokenizer, 'bench').run;
const [table, countMs] = time(() => wordTable(train, pre));

const tok = Tokenizer.fromJSON(trained.json, 'trained tokenizer.json');
const [trainIds, encodeMs] = time(() => train.map((d) => tok.encode(d)));
const valIds = val.map((d) => tok.encode(d));
const trainStream = packTokens(trainIds, trained.eosId);
const valStream = packTokens(valIds, trained.eosId);
const valBytes = bytes(val);
const result = {
  machine: os.cpus()[0]?.model ?? 'unknown',
  node: process.version,
  date: new Date().toISOString(),
  source,
  documents: documents.length,
  bytes: bytes(documents),
  split: { seed: SEED, valFraction: VAL_FRACTION, trainDocuments: train.length, valDocuments: val.length, trainBytes: bytes(train), valBytes },
  vocabSize,
  loadMs: Math.round(loadMs),
  trainMs: Math.round(trainMs),
  countWordsMs: Math.round(countMs),
  distinctWords: table.symbols.length,
  merges: trained.merges,
  encodeTrainMs: Math.round(encodeMs),
  trainTokens: trainStream.length,
  valTokens: valStream.length,
  bytesPerToken: +(bytes(train) / (trainStream.length - train.length)).toFixed(3),
  unigramBitsPerByte: +unigramBitsPerByte(trainStream, valStream, valBytes, vocabSize).toFixed(4),
};
console.log(JSON.stringify(result, null, 2));
if (outPath) writeFileSync(outPath, JSON.stringify(result, null, 2) + '\n');
