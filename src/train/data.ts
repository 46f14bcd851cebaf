// The training data pipeline: documents (data-load.ts), a held-out split by document, packing token ids into one
// stream with EOS after each document, batches (data-batcher.ts), and the unigram bits-per-byte baseline.
// Leaves out: tokenizer training (tokenizer/train.ts) and the training loop.

import { Rng } from '../util/random.js';

export { loadDocuments, type LoadOptions, type LoadedDocuments } from './data-load.js';
export { Batcher, validationBatches, type Batch, type BatcherState } from './data-batcher.js';

/**
 * Splits documents into train and validation, whole documents each, by a seeded shuffle. round(n *
 * valFraction) documents go to validation, clamped so that both sides get at least one when n >= 2 (n = 1:
 * all to train). Each side keeps the documents' original order.
 */
export function splitDocuments<D>(docs: readonly D[], valFraction: number, seed: number): { train: D[]; val: D[] } {
  if (!(valFraction > 0 && valFraction < 1)) throw new Error(`split: validation fraction ${valFraction} must be between 0 and 1 (exclusive)`);
  const n = docs.length;
  if (n < 2) return { train: docs.slice(), val: [] };
  const nVal = Math.min(n - 1, Math.max(1, Math.round(n * valFraction)));
  const perm = Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(seed);
  for (let k = n - 1; k > 0; k--) {
    const j = rng.nextU32() % (k + 1);
    const t = perm[k]!; perm[k] = perm[j]!; perm[j] = t;
  }
  const isVal = new Uint8Array(n);
  for (let k = 0; k < nVal; k++) isVal[perm[k]!] = 1;
  const train: D[] = [];
  const val: D[] = [];
  docs.forEach((d, i) => (isVal[i] ? val : train).push(d));
  return { train, val };
}

/** Concatenates tokenized documents with `eosId` after each: [[5, 6], [7]] -> [5, 6, eos, 7, eos]. */
export function packTokens(docs: readonly (readonly number[])[], eosId: number): Int32Array {
  let total = 0;
  for (const d of docs) total += d.length + 1;
  const out = new Int32Array(total);
  let at = 0;
  for (const d of docs) {
    for (let i = 0; i < d.length; i++) out[at++] = d[i]!;
    out[at++] = eosId;
  }
  return out;
}

/**
 * The baseline a trained model must beat: a unigram model with add-one smoothed counts from the train tokens,
 * p(v) = (count(v) + 1) / (N + V), scored on the val tokens as bits per byte of val text:
 * -sum over val tokens of log2 p(v), divided by valBytes.
 * Example: train [0, 0, 1], V = 3 -> p = [3/6, 2/6, 1/6]; val [0, 2] over 4 bytes -> (1 + log2 6) / 4.
 */
export function unigramBitsPerByte(trainTokens: ArrayLike<number>, valTokens: ArrayLike<number>, valBytes: number, vocabSize: number): number {
  if (!Number.isInteger(vocabSize) || vocabSize < 1) throw new Error(`unigram baseline: vocab size ${vocabSize} must be a positive integer`);
  if (!(valBytes > 0)) throw new Error(`unigram baseline: validation text must have a positive byte count (got ${valBytes})`);
  const counts = new Float64Array(vocabSize);
  const check = (id: number, what: string) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new Error(`unigram baseline: ${what} token id ${id} is outside the vocabulary (size ${vocabSize})`);
  };
  for (let i = 0; i < trainTokens.length; i++) { check(trainTokens[i]!, 'train'); counts[trainTokens[i]!]++; }
  const logDenominator = Math.log2(trainTokens.length + vocabSize);
  let bits = 0;
  for (let i = 0; i < valTokens.length; i++) {
    const id = valTokens[i]!;
    check(id, 'val');
    bits += logDenominator - Math.log2(counts[id]! + 1);
  }
  return bits / valBytes;
}
