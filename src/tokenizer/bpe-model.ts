// The byte-level BPE model: turns one pre-token into ids by starting from its UTF-8 bytes and applying merges
// lowest rank first (leftmost among equal ranks), with a bounded cache of pre-token -> ids. The pair ranks come
// from a tokenizer.json merges list or from tiktoken's token ranks (fromMerges / fromRanks). Two merge loops:
// a heap over a linked list for long words and a plain scan for short ones (the naive twin; tests compare them).
// Leaves out: dropout, unk tokens and byte fallback (DeepSeek-V3 uses none; a byte missing from vocab is dropped).

import { BYTE_TO_CHAR, toByteLevel, utf8Bytes } from './byte-level.js';

const CACHE_MAX_CHARS = 4_000_000; // the cache is emptied when the words in it would exceed this
const CACHE_MAX_WORD = 4096;        // longer pre-tokens are not cached
const HEAP_MIN_LENGTH = 24;   // below this the quadratic scan is faster

export class BpeModel {
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly cache = new Map<string, readonly number[]>();
  private cacheChars = 0;

  /** vocab: byte-level token string -> id; merges in rank order, each a pair of vocab tokens (tokenizer.json). */
  static fromMerges(
    vocab: ReadonlyMap<string, number>,
    merges: readonly (readonly [string, string])[],
    ignoreMerges: boolean,
    where: string,
  ): BpeModel {
    const pairRank = new PairTable(merges.length);
    const rankMerged = new Int32Array(merges.length);
    merges.forEach(([a, b], rank) => {
      const left = vocab.get(a);
      const right = vocab.get(b);
      const merged = vocab.get(a + b);
      if (left === undefined || right === undefined || merged === undefined) {
        throw new Error(`${where}: merge ${rank} ${JSON.stringify([a, b])} uses a token missing from the vocab`);
      }
      pairRank.set(left, right, rank); // a repeated pair keeps its last rank, as HF
      rankMerged[rank] = merged;
    });
    return new BpeModel(vocab, pairRank, rankMerged, ignoreMerges);
  }

  /**
   * tiktoken's model, where the id of a token is its rank: two adjacent parts merge at the rank of the token their
   * bytes spell, lowest first, leftmost among equals; a pre-token that is itself a token is taken whole. So every
   * split of every token into two tokens is a pair whose rank is the whole token's id. Example: with "ab" = 300,
   * "abc" = 400 and "bc" = 350, the pairs (a,b) -> 300, (b,c) -> 350, (ab,c) -> 400 and (a,bc) -> 400.
   * This is exact where a merges list (one split per token, ordered by position in the list) is not: two different
   * splits of one token compete by position in tiktoken, not by where they sit in a list.
   */
  static fromRanks(vocab: ReadonlyMap<string, number>): BpeModel {
    const left: number[] = [];
    const right: number[] = [];
    const rank: number[] = [];
    let size = 0;
    for (const [token, id] of vocab) {
      size = Math.max(size, id + 1);
      for (let k = 1; k < token.length; k++) {
        const a = vocab.get(token.slice(0, k));
        const b = a === undefined ? undefined : vocab.get(token.slice(k));
        if (b !== undefined) { left.push(a!); right.push(b); rank.push(id); }
      }
    }
    const pairRank = new PairTable(rank.length);
    for (let i = 0; i < rank.length; i++) pairRank.set(left[i]!, right[i]!, rank[i]!);
    const rankMerged = new Int32Array(size);
    for (let id = 0; id < size; id++) rankMerged[id] = id;
    return new BpeModel(vocab, pairRank, rankMerged, true);
  }

  private constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    private readonly pairRank: PairTable,   // (left, right) -> rank
    private readonly rankMerged: Int32Array, // rank -> id of the merged token
    private readonly ignoreMerges: boolean,
  ) {
    for (let b = 0; b < 256; b++) this.byteIds[b] = vocab.get(BYTE_TO_CHAR[b]!) ?? -1;
  }

  /** Appends the ids of one pre-token (ordinary text, not yet byte-level) to `out`. */
  encodeWord(word: string, out: number[]): void {
    const hit = this.cache.get(word);
    if (hit) { for (let i = 0; i < hit.length; i++) out.push(hit[i]!); return; }
    const ids = this.computeWord(word);
    if (word.length <= CACHE_MAX_WORD) {
      if (this.cacheChars + word.length > CACHE_MAX_CHARS) { this.cache.clear(); this.cacheChars = 0; }
      this.cache.set(word, ids);
      this.cacheChars += word.length;
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
  }

  private computeWord(word: string): number[] {
    if (this.ignoreMerges) {
      const whole = this.vocab.get(toByteLevel(word));
      if (whole !== undefined) return [whole];
    }
    const bytes = utf8Bytes(word, []);
    const ids: number[] = [];
    for (const b of bytes) { const id = this.byteIds[b]!; if (id >= 0) ids.push(id); }
    return ids.length < HEAP_MIN_LENGTH ? this.mergeScan(ids) : this.mergeHeap(ids);
  }

  /** Rank of merging ids a,b (or -1). */
  private rank(a: number, b: number): number {
    return this.pairRank.get(a, b);
  }

  /** Naive merge loop: repeatedly merge the lowest-ranked adjacent pair, leftmost first. O(n^2). */
  mergeScan(ids: number[]): number[] {
    for (;;) {
      let best = -1;
      let at = -1;
      for (let i = 0; i + 1 < ids.length; i++) {
        const r = this.rank(ids[i]!, ids[i + 1]!);
        if (r >= 0 && (best < 0 || r < best)) { best = r; at = i; }
      }
      if (at < 0) return ids;
      ids[at] = this.rankMerged[best]!;
      ids.splice(at + 1, 1);
    }
  }

  /** Same result as mergeScan in O(n log n): a min-heap of (rank, position) over a doubly linked list. */
  mergeHeap(ids: readonly number[]): number[] {
    const n = ids.length;
    const sym = Int32Array.from(ids);             // -1 once merged into its left neighbour
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1; }
    const heap = new MinHeap();
    const pushPair = (i: number, j: number) => {
      const r = this.rank(sym[i]!, sym[j]!);
      if (r >= 0) heap.push(r * n + i);            // orders by rank, then position
    };
    for (let i = 0; i + 1 < n; i++) pushPair(i, i + 1);
    while (heap.size > 0) {
      const key = heap.pop();
      const r = Math.floor(key / n);
      const i = key - r * n;
      const j = next[i]!;
      if (sym[i]! < 0 || j < 0 || this.rank(sym[i]!, sym[j]!) !== r) continue; // stale entry
      sym[i] = this.rankMerged[r]!;
      sym[j] = -1;
      next[i] = next[j]!;
      if (next[j]! >= 0) prev[next[j]!] = i;
      if (prev[i]! >= 0) pushPair(prev[i]!, i);
      if (next[i]! >= 0) pushPair(i, next[i]!);
    }
    const out: number[] = [];
    for (let i = n > 0 ? 0 : -1; i >= 0; i = next[i]!) out.push(sym[i]!);
    return out;
  }
}

/**
 * Open-addressing hash table from a pair of non-negative int32 ids to a non-negative int32 value, in typed
 * arrays: faster than a Map keyed by a*base+b (those keys exceed small-integer range) and free of GC work.
 */
class PairTable {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly value: Int32Array;
  private readonly mask: number;

  constructor(entries: number) {
    let cap = 16;
    while (cap < entries * 2) cap *= 2;
    this.left = new Int32Array(cap).fill(-1);
    this.right = new Int32Array(cap);
    this.value = new Int32Array(cap);
    this.mask = cap - 1;
  }

  private slot(a: number, b: number): number {
    let i = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) >>> 0;
    i = (i ^ (i >>> 15)) & this.mask;
    while (this.left[i] !== -1 && (this.left[i] !== a || this.right[i] !== b)) i = (i + 1) & this.mask;
    return i;
  }

  set(a: number, b: number, v: number): void {
    const i = this.slot(a, b);
    this.left[i] = a;
    this.right[i] = b;
    this.value[i] = v;
  }

  /** The value for (a, b), or -1. */
  get(a: number, b: number): number {
    const i = this.slot(a, b);
    return this.left[i] === -1 ? -1 : this.value[i]!;
  }
}

/** Binary min-heap of numbers. */
class MinHeap {
  private readonly a: number[] = [];
  get size(): number { return this.a.length; }

  push(x: number): void {
    const a = this.a;
    let i = a.length;
    a.push(x);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= x) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = x;
  }

  pop(): number {
    const a = this.a;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      const c = l + 1 < a.length && a[l + 1]! < a[l]! ? l + 1 : l;
      if (a[c]! >= last) break;
      a[i] = a[c]!;
      i = c;
    }
    a[i] = last;
    return top;
  }
}
