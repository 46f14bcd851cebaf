// The BPE merge learner: given pre-tokenized words as byte ids with their counts, repeatedly merges the most
// frequent adjacent pair (ties: smallest left id, then smallest right id) into a new token. Pair counts are
// updated incrementally from an index of which words contain which pair, with a lazy max-heap of counts.
// learnMergesNaive is the plain twin (recount everything each step); tests check that they agree.
// Leaves out: pre-tokenization and the tokenizer.json layout (train.ts).

import { BYTE_TO_CHAR } from './byte-level.js';

/** Pre-tokenized words: symbols[w] are the byte ids (0..255) of word w, counts[w] how often it occurs. */
export interface WordTable {
  symbols: number[][];
  counts: number[];
}

export interface LearnedMerges {
  /** Merges in rank order, as pairs of token ids. */
  merges: [number, number][];
  /** Byte-level token string of each id: 0..255 the bytes, then one per new token (ids 256, 257, ...). */
  tokens: string[];
}

const PAIR_BASE = 2 ** 21; // token ids stay below this
const pairKey = (a: number, b: number) => a * PAIR_BASE + b;

/** Merges (a, b) -> merged, left to right, in `sym[0..len)`; returns the new length. */
function mergeInPlace(sym: Int32Array, len: number, a: number, b: number, merged: number): number {
  let out = 0;
  for (let i = 0; i < len; i++) {
    if (i + 1 < len && sym[i] === a && sym[i + 1] === b) { sym[out++] = merged; i++; }
    else sym[out++] = sym[i]!;
  }
  return out;
}

/** Names tokens and reuses an id when a merge spells an existing token (e.g. "ab"+"c" after "a"+"bc"). */
class TokenNames {
  readonly tokens: string[] = BYTE_TO_CHAR.slice();
  private readonly ids = new Map<string, number>(BYTE_TO_CHAR.map((c, b) => [c, b]));

  /** The id of a + b, and whether it is a new token. */
  merge(a: number, b: number): { id: number; isNew: boolean } {
    const name = this.tokens[a]! + this.tokens[b]!;
    const known = this.ids.get(name);
    if (known !== undefined) return { id: known, isNew: false };
    const id = this.tokens.length;
    this.tokens.push(name);
    this.ids.set(name, id);
    return { id, isNew: true };
  }
}

/** Max-heap of (count, pair key): larger count first, then smaller key. Entries may be stale (lazy deletion). */
class PairHeap {
  private counts: number[] = [];
  private keys: number[] = [];

  get size(): number { return this.counts.length; }

  private above(i: number, j: number): boolean {
    const ci = this.counts[i]!;
    const cj = this.counts[j]!;
    return ci > cj || (ci === cj && this.keys[i]! < this.keys[j]!);
  }

  private swap(i: number, j: number): void {
    const c = this.counts[i]!; this.counts[i] = this.counts[j]!; this.counts[j] = c;
    const k = this.keys[i]!; this.keys[i] = this.keys[j]!; this.keys[j] = k;
  }

  push(count: number, key: number): void {
    this.counts.push(count);
    this.keys.push(key);
    for (let i = this.counts.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!this.above(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Removes the top entry and returns it. */
  pop(): { count: number; key: number } {
    const top = { count: this.counts[0]!, key: this.keys[0]! };
    const last = this.counts.length - 1;
    this.swap(0, last);
    this.counts.pop();
    this.keys.pop();
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < last && this.above(l, best)) best = l;
      if (r < last && this.above(r, best)) best = r;
      if (best === i) break;
      this.swap(i, best);
      i = best;
    }
    return top;
  }
}

/**
 * Learns merges until `newTokens` new tokens exist or no pair occurs `minCount` times. Example: words
 * {"aaab": 2, "aab": 1} -> (a, a) occurs 2*2 + 1 = 5 times, so the first merge is a + a.
 */
export function learnMerges(table: WordTable, newTokens: number, minCount = 1): LearnedMerges {
  if (256 + newTokens >= PAIR_BASE) throw new Error(`BPE training: ${newTokens} new tokens is more than this trainer supports (${PAIR_BASE - 257})`);
  const nWords = table.symbols.length;
  const sym = table.symbols.map((s) => Int32Array.from(s));
  const len = Int32Array.from(table.symbols, (s) => s.length);
  const freq = table.counts;
  const pairCount = new Map<number, number>();
  const where = new Map<number, number[]>(); // pair -> words that contained it when it was (re)counted
  const index = (key: number, w: number) => {
    const list = where.get(key);
    if (!list) where.set(key, [w]);
    else if (list[list.length - 1] !== w) list.push(w);
  };
  for (let w = 0; w < nWords; w++) {
    const s = sym[w]!;
    for (let i = 0; i + 1 < len[w]!; i++) {
      const key = pairKey(s[i]!, s[i + 1]!);
      pairCount.set(key, (pairCount.get(key) ?? 0) + freq[w]!);
      index(key, w);
    }
  }
  const heap = new PairHeap();
  for (const [key, count] of pairCount) heap.push(count, key);

  const names = new TokenNames();
  const merges: [number, number][] = [];
  const seen = new Int32Array(nWords).fill(-1);
  let created = 0;
  while (created < newTokens && heap.size > 0) {
    const top = heap.pop();
    const current = pairCount.get(top.key) ?? 0;
    if (current !== top.count) {
      if (current > 0 && current < top.count) heap.push(current, top.key);
      continue;
    }
    if (current < minCount) break;
    const a = Math.floor(top.key / PAIR_BASE);
    const b = top.key % PAIR_BASE;
    const { id: c, isNew } = names.merge(a, b);
    if (isNew) created++;
    merges.push([a, b]);

    const delta = new Map<number, number>();
    const step = merges.length;
    for (const w of where.get(top.key) ?? []) {
      if (seen[w] === step) continue;
      seen[w] = step;
      const s = sym[w]!;
      const n = len[w]!;
      let has = false;
      for (let i = 0; i + 1 < n; i++) if (s[i] === a && s[i + 1] === b) { has = true; break; }
      if (!has) continue;
      const f = freq[w]!;
      for (let i = 0; i + 1 < n; i++) { const k = pairKey(s[i]!, s[i + 1]!); delta.set(k, (delta.get(k) ?? 0) - f); }
      const m = (len[w] = mergeInPlace(s, n, a, b, c));
      for (let i = 0; i + 1 < m; i++) {
        const k = pairKey(s[i]!, s[i + 1]!);
        delta.set(k, (delta.get(k) ?? 0) + f);
        if (s[i] === c || s[i + 1] === c) index(k, w); // only pairs with c are new to this word
      }
    }
    for (const [k, d] of delta) {
      if (d === 0) continue;
      const count = (pairCount.get(k) ?? 0) + d;
      if (count <= 0) { pairCount.delete(k); where.delete(k); }
      else {
        pairCount.set(k, count);
        if (d > 0) heap.push(count, k);
      }
    }
  }
  return { merges, tokens: names.tokens };
}

/** The naive twin of learnMerges: recounts every pair over every word at each step. O(steps * corpus). */
export function learnMergesNaive(table: WordTable, newTokens: number, minCount = 1): LearnedMerges {
  const words = table.symbols.map((s) => s.slice());
  const names = new TokenNames();
  const merges: [number, number][] = [];
  let created = 0;
  while (created < newTokens) {
    const counts = new Map<number, number>();
    words.forEach((s, w) => {
      for (let i = 0; i + 1 < s.length; i++) {
        const k = pairKey(s[i]!, s[i + 1]!);
        counts.set(k, (counts.get(k) ?? 0) + table.counts[w]!);
      }
    });
    let bestKey = -1;
    let best = 0;
    for (const [k, c] of counts) if (c > best || (c === best && k < bestKey)) { best = c; bestKey = k; }
    if (bestKey < 0 || best < minCount) break;
    const a = Math.floor(bestKey / PAIR_BASE);
    const b = bestKey % PAIR_BASE;
    const { id: c, isNew } = names.merge(a, b);
    if (isNew) created++;
    merges.push([a, b]);
    for (let w = 0; w < words.length; w++) {
      const s = Int32Array.from(words[w]!);
      words[w] = Array.from(s.subarray(0, mergeInPlace(s, s.length, a, b, c)));
    }
  }
  return { merges, tokens: names.tokens };
}
