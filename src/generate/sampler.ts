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

export function argmax(logits: ArrayLike<number>, allowed?: Uint8Array): number {
  let best = -1;
  for (let i = 0; i < logits.length; i++) if ((!allowed || allowed[i]) && (best < 0 || logits[i] > logits[best])) best = i;
  return Math.max(best, 0);
}

/**
 * Samples an id. `allowed` (optional, one byte per id) excludes ids that have no text — gaps a tokenizer left in
 * its vocabulary, or padding rows of the embedding. Plain temperature sampling walks the ids in order (no sort);
 * top-k / top-p take the most likely ids one at a time from a heap, so a vocabulary of 129K costs a sort only as
 * deep as the nucleus.
 */
export function sampleToken(logits: ArrayLike<number>, o: SamplerOptions, rng: Rng, allowed?: Uint8Array): number {
  if (o.temperature === 0) return argmax(logits, allowed);
  const V = logits.length;
  const best = argmax(logits, allowed), max = logits[best];
  const weight = (i: number): number => Math.exp((logits[i] - max) / o.temperature);
  // Without top-k every allowed id takes part: weigh them all once (disallowed ids weigh 0).
  const w = o.topK === 0 ? new Float64Array(V) : null;
  let total = 0;
  if (w) for (let i = 0; i < V; i++) if (!allowed || allowed[i]) total += (w[i] = weight(i));
  if (w && o.topP >= 1) {
    let u = rng.uniform() * total;
    for (let i = 0; i < V; i++) {
      u -= w[i];
      if (u < 0 && w[i] > 0) return i;
    }
    return best;
  }
  const ranked = new RankedIds(logits, allowed);
  const ids: number[] = [], probs: number[] = [];
  const take = (): boolean => {
    const id = ranked.pop();
    if (id < 0) return false;
    ids.push(id);
    probs.push(w ? w[id] : weight(id));
    return true;
  };
  if (o.topK > 0) while (ids.length < o.topK && take());
  else take();                                   // the nucleus starts with the most likely id
  if (ids.length === 0) return best;             // no id is allowed
  if (o.topP < 1) {
    // The nucleus: the fewest most likely ids whose mass reaches topP of the (top-k) total.
    const mass = w ? total : probs.reduce((a, b) => a + b, 0);
    let cum = 0, n = 0;
    while (cum < o.topP * mass) {
      if (n === ids.length && (!w || !take())) break;
      cum += probs[n++];
    }
    ids.length = probs.length = Math.max(1, n);
  }
  let u = rng.uniform() * probs.reduce((a, b) => a + b, 0);
  for (let k = 0; k < ids.length; k++) {
    u -= probs[k];
    if (u < 0) return ids[k];
  }
  return ids[ids.length - 1];
}

/** Allowed ids in order of decreasing logit (equal logits: lower id first), one pop at a time: a binary heap. */
class RankedIds {
  private readonly heap: Int32Array;
  private n = 0;

  constructor(private readonly logits: ArrayLike<number>, allowed?: Uint8Array) {
    this.heap = new Int32Array(logits.length);
    for (let i = 0; i < logits.length; i++) if (!allowed || allowed[i]) this.heap[this.n++] = i;
    for (let i = (this.n >> 1) - 1; i >= 0; i--) this.sift(i);
  }

  /** The next id, or -1 when none is left. */
  pop(): number {
    if (this.n === 0) return -1;
    const top = this.heap[0];
    this.heap[0] = this.heap[--this.n];
    this.sift(0);
    return top;
  }

  private before(a: number, b: number): boolean {
    const la = this.logits[a], lb = this.logits[b];
    return la > lb || (la === lb && a < b);
  }

  private sift(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < this.n && this.before(h[l], h[m])) m = l;
      if (r < this.n && this.before(h[r], h[m])) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m], h[i]];
      i = m;
    }
  }
}
