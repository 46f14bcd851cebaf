// Picks the next token from a row of logits: greedy (temperature 0), or temperature + top-k + top-p sampling from
// a seeded generator (same seed, same tokens). Equal logits: the lower id wins under greedy.

import type { Rng } from '../util/random.js';

export interface SamplerOptions {
  temperature: number; // 0 = greedy
  topK: number;        // 0 = off
  topP: number;        // 1 = off
}

export function validateSampler(o: SamplerOptions): void {
  if (!(o.temperature >= 0) || !Number.isFinite(o.temperature)) throw new Error(`temperature must be ≥ 0, got ${o.temperature}`);
  if (!Number.isInteger(o.topK) || o.topK < 0) throw new Error(`top-k must be an integer ≥ 0, got ${o.topK}`);
  if (!(o.topP > 0 && o.topP <= 1)) throw new Error(`top-p must be in (0, 1], got ${o.topP}`);
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/**
 * Samples an id. `allowed` (optional, one byte per id) excludes ids that have no text — gaps a tokenizer left in
 * its vocabulary, or padding rows of the embedding.
 */
export function sampleToken(logits: ArrayLike<number>, o: SamplerOptions, rng: Rng, allowed?: Uint8Array): number {
  if (allowed) logits = Float32Array.from(logits as ArrayLike<number>, (x, i) => (allowed[i] ? x : -Infinity));
  if (o.temperature === 0) return argmax(logits);
  const V = logits.length;
  let ids = Array.from({ length: V }, (_, i) => i);
  ids.sort((a, b) => (logits[b] - logits[a]) || (a - b));
  if (o.topK > 0) ids = ids.slice(0, o.topK);
  const max = logits[ids[0]];
  let probs = ids.map((i) => Math.exp((logits[i] - max) / o.temperature));
  let sum = probs.reduce((a, b) => a + b, 0);
  if (o.topP < 1) {
    let cum = 0, keep = 0;
    while (keep < probs.length && cum < o.topP * sum) cum += probs[keep++];
    ids = ids.slice(0, Math.max(1, keep));
    probs = probs.slice(0, ids.length);
    sum = probs.reduce((a, b) => a + b, 0);
  }
  let u = rng.uniform() * sum;
  for (let k = 0; k < ids.length; k++) {
    u -= probs[k];
    if (u < 0) return ids[k];
  }
  return ids[ids.length - 1];
}
